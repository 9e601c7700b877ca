"""CommandsFunction: the reactive bot behind a Lambda Function URL (architecture.md §2.9)."""
