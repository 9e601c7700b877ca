"""The whole pipeline on one machine (architecture.md §5): `python -m infra.local [--demo]`.

moto server holds template.yaml's resources (`aws_resources`, `template`), each function runs as a
warm Lambda-like process (`lambda_runtime`, `lambda_worker`), an SQS poller stands in for the event
source mapping (`event_source`); `stack` ties them with the listener, `scenario` and `demo` script
the offline run.
"""
