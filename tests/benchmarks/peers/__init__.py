"""The peer benchmark (`make bench-peers`): the listener against cryptofeed and a bare websockets +
orjson client, reading the same real frames from one loopback wss:// server (architecture.md §4).

    bench.py      the orchestrator: moto server, the server, each consumer in turn, checks, report
    server.py     the one loopback server (its own process)
    wire.py       exchange wire formats: frames, paths, REST documents, WebSocket framing
    consumers/    the references (bare, cryptofeed) and the null consumer, run from .venv-peers
    stats.py      medians, paired ratios, the issue's bars, the printed table
    procfs.py     CPU time and peak RSS from /proc
    tls.py        the server's throwaway certificate

Run from the repository root with `PYTHONPATH=tests/benchmarks .venv/bin/python -m peers --help`.
"""
