"""`crypto-alerts`, the operator's command line: one module per command, `main` ties them together."""
