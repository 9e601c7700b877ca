"""`crypto-alerts status`: is the listener healthy, what has been sent lately, are the queues draining.

Listener health comes from its own `GET /health` and `GET /status` (given `--listener-url`, or on
the local stack at http://127.0.0.1:$HEALTH_PORT); on AWS (or whenever `--service` is given) from
the ECS service's running count and the latest `SecondsSinceLastFrame` it published. Each section
reports on its own: one that cannot be read is shown as such and makes the exit status 1, the
others still print.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from cryptoalerts import config, metrics
from infra.cli.context import CliError, Context, describe
from infra.cli.history import recent

LISTENER_SERVICE_LOGICAL_ID = "ListenerService"
LISTENER_METRIC_SERVICE = "listener"  # the listener's Powertools service name: its metrics' `service`
HTTP_TIMEOUT_S = 5.0
ACTIVITY_HOURS = 24
SILENCE_LIMIT_S = 600


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("status", parents=[common], help="listener health, recent alerts, queue depths")
    parser.add_argument("--listener-url", help="the listener's health endpoint base, e.g. http://10.0.0.5:8080")
    parser.add_argument("--cluster", help="ECS cluster of the listener (AWS; default: from the stack)")
    parser.add_argument("--service", help="ECS service of the listener (AWS; default: the stack's ListenerService)")
    parser.add_argument("--table", help="history table (default: $HISTORY_TABLE or the stack's output)")
    parser.add_argument("--queue-url", help="alert queue URL (default: $ALERT_QUEUE_URL or the stack's output)")
    parser.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    sections = (
        ("listener", lambda: listener_section(ctx, args)),
        ("alerts", lambda: activity_section(ctx, args.table)),
        ("queues", lambda: queue_section(ctx, args.queue_url)),
    )
    healthy = True
    for title, build in sections:
        try:
            ok, lines = build()
        except CliError as exc:
            ok, lines = False, [f"unavailable: {exc}"]
        healthy = healthy and ok
        print(f"{title}:")
        for line in lines:
            print(f"  {line}")
    return 0 if healthy else 1


# ---------------------------------------------------------------- listener
def listener_section(ctx: Context, args: argparse.Namespace) -> tuple[bool, list[str]]:
    if args.listener_url:
        return listener_http(args.listener_url)
    if ctx.local and not (args.cluster or args.service):
        return listener_http(f"http://127.0.0.1:{config.get(config.HEALTH_PORT)}")
    return listener_aws(ctx, args.cluster, args.service)


def listener_http(base_url: str) -> tuple[bool, list[str]]:
    base = base_url.rstrip("/")
    try:
        health = httpx.get(f"{base}/health", timeout=HTTP_TIMEOUT_S)
        status = httpx.get(f"{base}/status", timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise CliError(f"listener unreachable at {base}: {type(exc).__name__}: {exc}") from None
    healthy = health.status_code == 200
    lines = [f"{'healthy' if healthy else 'UNHEALTHY'} (GET {base}/health -> {health.status_code})"]
    try:
        body = status.json()
    except ValueError:
        lines.append(f"/status answered {status.status_code} with a body that is not JSON")
        return False, lines
    if isinstance(body, dict):
        lines.extend(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in body.items())
    else:
        lines.append(json.dumps(body, ensure_ascii=False))
    return healthy, lines


def listener_aws(ctx: Context, cluster: str | None, service: str | None) -> tuple[bool, list[str]]:
    if not service:
        service = ctx.stack_resource(LISTENER_SERVICE_LOGICAL_ID)
    if not cluster:
        cluster = _cluster_of(service)
    try:
        described = ctx.client("ecs").describe_services(cluster=cluster, services=[service])
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot describe ECS service {service}: {describe(exc)}") from None
    if not described.get("services"):
        raise CliError(f"ECS service {service} not found in cluster {cluster}")
    svc = described["services"][0]
    running, desired = int(svc.get("runningCount", 0)), int(svc.get("desiredCount", 0))
    lines = [f"ECS service {svc.get('serviceName', service)}: {running} running of {desired} desired"]
    age = latest_seconds_since_last_frame(ctx)
    if age is None:
        lines.append(f"{metrics.SECONDS_SINCE_LAST_FRAME}: no data in the last 15 minutes")
    else:
        lines.append(f"{metrics.SECONDS_SINCE_LAST_FRAME}: {age:g} s (latest minute)")
    healthy = listener_healthy(running, age)
    lines.insert(0, "healthy" if healthy else "UNHEALTHY")
    return healthy, lines


def listener_healthy(running: int, seconds_since_last_frame: float | None) -> bool:
    """A task runs and it heard the exchange recently. The listener reconnects after 10 min of silence
    (architecture.md §3), so an age beyond that means reconnecting does not help."""
    return running >= 1 and seconds_since_last_frame is not None and seconds_since_last_frame < SILENCE_LIMIT_S


def _cluster_of(service_arn: str) -> str:
    # arn:aws:ecs:<region>:<account>:service/<cluster>/<service> (the long ARN format)
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) == 3:
        return parts[1]
    raise CliError(f"cannot tell the cluster of {service_arn}; give --cluster")


def latest_seconds_since_last_frame(ctx: Context) -> float | None:
    now = datetime.now(tz=UTC)
    try:
        result = ctx.client("cloudwatch").get_metric_statistics(
            Namespace=metrics.NAMESPACE,
            MetricName=metrics.SECONDS_SINCE_LAST_FRAME,
            Dimensions=[{"Name": "service", "Value": LISTENER_METRIC_SERVICE}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot read {metrics.SECONDS_SINCE_LAST_FRAME}: {describe(exc)}") from None
    points = sorted(result.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


# ---------------------------------------------------------------- alerts
def activity_section(ctx: Context, table_flag: str | None) -> tuple[bool, list[str]]:
    table = ctx.history_table(table_flag)
    now = datetime.now(tz=UTC)
    since = now - timedelta(hours=ACTIVITY_HOURS)
    items = recent(ctx, table, limit=10_000, days=2, today=now.date())
    last_day = [i for i in items if str(i.get("recorded_at", "")) >= since.strftime("%Y-%m-%dT%H:%M:%S")]
    counts = Counter(str(i.get("status")) for i in last_day)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    lines = [f"last {ACTIVITY_HOURS} h: {summary}"]
    if items:
        newest = items[0]
        lines.append(
            f"newest: {newest.get('recorded_at')} {newest.get('kind')} {newest.get('symbol')} "
            f"{newest.get('priority')} -> {newest.get('status')}"
        )
    return True, lines


# ---------------------------------------------------------------- queues
def queue_section(ctx: Context, queue_flag: str | None) -> tuple[bool, list[str]]:
    sqs = ctx.client("sqs")
    url = ctx.alert_queue_url(queue_flag)
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        dlq_url = _dead_letter_queue_url(sqs, attrs)
        dlq_attrs = (
            sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            if dlq_url
            else {}
        )
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot read queue {url}: {describe(exc)}") from None
    waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
    lines = [f"alert queue: {waiting} waiting, {in_flight} in flight"]
    if not dlq_url:
        lines.append("dead-letter queue: none configured")
        return True, lines
    dead = int(dlq_attrs.get("ApproximateNumberOfMessages", 0))
    lines.append(f"dead-letter queue: {dead} message(s)" + (" - see docs/runbook.md" if dead else ""))
    return dead == 0, lines


def _dead_letter_queue_url(sqs: Any, attrs: dict[str, str]) -> str | None:
    policy = attrs.get("RedrivePolicy")
    if not policy:
        return None
    arn = json.loads(policy)["deadLetterTargetArn"]
    # arn:aws:sqs:<region>:<account>:<name>
    _, _, _, _, account, name = arn.split(":", 5)
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
