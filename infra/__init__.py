"""Everything that is not deployed: off-AWS tooling around the pipeline.

infra/local/   the local stack (`make run`, `make demo`): moto server, the functions, the listener
infra/fakes/   local servers speaking the exchanges' and Telegram's real wire formats
infra/cli/     the operator's command line `crypto-alerts`, with the backtest
infra/repo.py  where things are in the repository (its root, the recordings in data/)
"""
