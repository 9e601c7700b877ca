"""The reference consumers, each its own process in .venv-peers (`python -m peers.consumers.<name>`).

Each reads one stream from the benchmark server and prints a JSON line (`report.checkpoint`) when
it has handled the number of frames it was told to expect: the warm-up's, then the timed phase's.
"""
