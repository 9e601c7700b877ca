"""The operator CLI against moto server (real AWS wire protocol) and local HTTP servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from cryptoalerts import metrics, thresholds
from infra.cli.context import Context
from infra.cli.main import main
from infra.local import aws_resources
from infra.local.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "/crypto-alerts/local/thresholds"  # aws_resources.deploy's default stage is `local`
TOKEN = "123456:AAH-secret-token-value"


# ---------------------------------------------------------------- helpers
@pytest.fixture
def cli_env(stack: aws_resources.Stack, monkeypatch: pytest.MonkeyPatch) -> aws_resources.Stack:
    """The environment the local stack gives an operator's shell."""
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("HISTORY_TABLE", stack.refs["AlertHistoryTable"])
    monkeypatch.setenv("ALERT_QUEUE_URL", stack.refs["AlertQueue"])
    for name in ("THRESHOLDS_PARAMETER", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    return stack


def ssm() -> Any:
    return boto3.client("ssm")


def stored(name: str = PARAMETER) -> tuple[str, int]:
    param = ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return param["Value"], param["Version"]


def put_stored(document: Any) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    ssm().put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)


Handler = Callable[[str, str, bytes], tuple[int, Any]]


@pytest.fixture
def http_server() -> Iterator[Callable[[Handler], tuple[str, list[tuple[str, str, bytes]]]]]:
    """Starts loopback HTTP servers answering with `handler(method, path, body) -> (status, json)`."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Handler) -> tuple[str, list[tuple[str, str, bytes]]]:
        requests: list[tuple[str, str, bytes]] = []

        class Handler_(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                requests.append((self.command, self.path, body))
                status, payload = handler(self.command, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler_)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- thresholds show / set / validate / edit
def test_show_prints_defaults_merged_with_the_stored_overrides(cli_env, capsys) -> None:
    put_stored({"oi": {"BTC": {"change_pct": 12}}, "symbols": ["BTC", "币安人生"]})
    assert main(["thresholds", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["oi"]["BTC"] == {"change_pct": 12}
    assert shown["symbols"] == ["BTC", "币安人生"]
    assert shown["liquidation"] == thresholds.DEFAULTS["liquidation"]
    assert shown == thresholds.effective({"oi": {"BTC": {"change_pct": 12}}, "symbols": ["BTC", "币安人生"]}).document


def test_show_stored_prints_only_what_the_operator_set(cli_env, capsys) -> None:
    put_stored({"dispatch": {"rate_limit_per_hour": 20}})
    assert main(["thresholds", "show", "--stored", "--parameter", PARAMETER, "--stage", "other"]) == 0
    assert json.loads(capsys.readouterr().out) == {"dispatch": {"rate_limit_per_hour": 20}}


def test_show_names_the_field_of_an_invalid_stored_document(cli_env, capsys) -> None:
    put_stored({"oi": {"BTC": {"change_pct": "high"}}})
    assert main(["thresholds", "show"]) == 1
    err = capsys.readouterr().err
    assert "oi.BTC.change_pct" in err and "Traceback" not in err


def test_set_writes_one_value_and_keeps_the_document_partial(cli_env, capsys) -> None:
    put_stored({"liquidation": {"ETH": {"min_usd": 60000}}})
    assert main(["thresholds", "set", "oi.BTC.change_pct", "12"]) == 0
    assert "oi.BTC.change_pct = 12" in capsys.readouterr().out
    text, _ = stored()
    assert json.loads(text) == {"liquidation": {"ETH": {"min_usd": 60000}}, "oi": {"BTC": {"change_pct": 12}}}
    assert thresholds.parse(text).oi("BTC").change_pct == 12


def test_set_parses_json_values_and_falls_back_to_strings(cli_env) -> None:
    assert main(["thresholds", "set", "symbols", '["BTC", "币安人生"]']) == 0
    assert json.loads(stored()[0])["symbols"] == ["BTC", "币安人生"]
    assert main(["thresholds", "set", "dispatch.priority_share.LOW", "0.25"]) == 0
    assert thresholds.parse(stored()[0]).dispatch.priority_share["LOW"] == 0.25


def test_set_creates_the_parameter_when_missing(cli_env) -> None:
    ssm().delete_parameter(Name=PARAMETER)
    assert main(["thresholds", "set", "liquidation.BTC.cascade_count", "7"]) == 0
    assert json.loads(stored()[0]) == {"liquidation": {"BTC": {"cascade_count": 7}}}


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("oi.BTC.change_pct", "-5", "oi.BTC.change_pct"),
        ("oi.BTC.speed", "3", "oi.BTC.speed"),
        ("liquidation.default.min_usd", "lots", "liquidation.default.min_usd"),
        ("oi.default.min_exchanges", "4", "oi.default.min_exchanges"),
        ("symbols", '["BTC", "BTC-USDT"]', "symbols[1]"),
        ("dispatch.rate_limit_per_hour", "1.5", "dispatch.rate_limit_per_hour"),
    ],
)
def test_set_refuses_invalid_input_naming_the_field_and_writes_nothing(cli_env, capsys, path, value, field) -> None:
    before = stored()
    assert main(["thresholds", "set", path, value]) == 1
    err = capsys.readouterr().err
    assert field in err
    assert "nothing written" in err and "Traceback" not in err
    assert stored() == before  # same value, same version: no write at all


def test_validate_accepts_a_good_file_and_names_the_field_of_a_bad_one(cli_env, tmp_path, capsys) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"symbols": ["BTC", "PEPE"], "liquidation": {"PEPE": {"min_usd": 5000}}}))
    assert main(["thresholds", "validate", str(good)]) == 0
    assert "valid" in capsys.readouterr().out

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"liquidation": {"PEPE": {"window_s": 0}}}))
    assert main(["thresholds", "validate", str(bad)]) == 1
    assert "liquidation.PEPE.window_s" in capsys.readouterr().err

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["thresholds", "validate", str(broken)]) == 1
    assert "not valid JSON" in capsys.readouterr().err

    assert main(["thresholds", "validate", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def _editor(tmp_path: Path, new_text: str) -> str:
    """An $EDITOR that replaces the file with `new_text` (and records what it was shown)."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        f"pathlib.Path({str(tmp_path / 'shown.json')!r}).write_text(p.read_text())\n"
        f"p.write_text({new_text!r})\n"
    )
    return f"{sys.executable} {script}"


def test_edit_opens_the_stored_document_and_writes_a_valid_edit(cli_env, tmp_path, monkeypatch) -> None:
    put_stored({"oi": {"BTC": {"change_pct": 12}}})
    monkeypatch.setenv("EDITOR", _editor(tmp_path, '{"oi": {"BTC": {"change_pct": 10}}, "symbols": ["BTC"]}'))
    assert main(["thresholds", "edit"]) == 0
    assert json.loads((tmp_path / "shown.json").read_text()) == {"oi": {"BTC": {"change_pct": 12}}}
    assert json.loads(stored()[0]) == {"oi": {"BTC": {"change_pct": 10}}, "symbols": ["BTC"]}


def test_edit_refuses_an_invalid_edit_and_writes_nothing(cli_env, tmp_path, monkeypatch, capsys) -> None:
    put_stored({"oi": {"BTC": {"change_pct": 12}}})
    before = stored()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, '{"oi": {"BTC": {"window_min": 0}}}'))
    assert main(["thresholds", "edit"]) == 1
    assert "oi.BTC.window_min" in capsys.readouterr().err
    assert stored() == before


def test_edit_without_change_writes_nothing(cli_env, tmp_path, monkeypatch, capsys) -> None:
    put_stored({"oi": {"BTC": {"change_pct": 12}}})
    before = stored()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, '{"oi": {"BTC": {"change_pct": 12}}}'))
    assert main(["thresholds", "edit"]) == 0
    assert "no change" in capsys.readouterr().out
    assert stored() == before


# ---------------------------------------------------------------- history
def _history_item(recorded: datetime, n: int, status: str, kind: str = "liquidation_cascade") -> dict[str, Any]:
    recorded_at = recorded.strftime("%Y-%m-%dT%H:%M:%S.") + f"{recorded.microsecond // 1000:03d}Z"
    alert_id = f"{kind}:BTC:{n}"
    return {
        "day": {"S": recorded.strftime("%Y-%m-%d")},
        "sk": {"S": f"{recorded_at}#{alert_id}"},
        "id": {"S": alert_id},
        "kind": {"S": kind},
        "symbol": {"S": "BTC"},
        "priority": {"S": "HIGH"},
        "dedup_key": {"S": f"{kind}:BTC:long"},
        "detected_at": {"S": recorded_at},
        "status": {"S": status},
        "telegram_message_id": {"N": str(100 + n)} if status == "delivered" else {"NULL": True},
        "recorded_at": {"S": recorded_at},
        "expires_at": {"N": "4102444800"},
        **({"error": {"S": "Forbidden: bot was blocked by the user"}} if status == "failed" else {}),
    }


@pytest.fixture
def history(cli_env) -> datetime:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    ddb = boto3.client("dynamodb")
    rows = [
        (now - timedelta(minutes=5), 1, "delivered"),
        (now - timedelta(minutes=3), 2, "duplicate"),
        (now - timedelta(minutes=1), 3, "failed"),
        (now - timedelta(days=1, minutes=1), 4, "rate_limited"),
        (now - timedelta(days=3), 5, "delivered"),
    ]
    for recorded, n, status in rows:
        ddb.put_item(TableName=cli_env.refs["AlertHistoryTable"], Item=_history_item(recorded, n, status))
    return now


def test_history_lists_recent_alerts_newest_first_across_days(history, capsys) -> None:
    assert main(["history", "--days", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["recorded_at", "status", "kind", "symbol", "priority", "telegram_message_id", "id"]
    ids = [line.split()[-1] for line in lines[1:] if not line.startswith("    ")]
    assert ids == [
        "liquidation_cascade:BTC:3",
        "liquidation_cascade:BTC:2",
        "liquidation_cascade:BTC:1",
        "liquidation_cascade:BTC:4",
    ]
    assert "    error: Forbidden: bot was blocked by the user" in lines


def test_history_json_limit_and_status_filter(history, capsys) -> None:
    assert main(["history", "--json", "--limit", "2"]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [i["id"] for i in items] == ["liquidation_cascade:BTC:3", "liquidation_cascade:BTC:2"]
    assert items[0]["error"].startswith("Forbidden")

    assert main(["history", "--json", "--status", "delivered", "--days", "7"]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(i["id"], i["telegram_message_id"]) for i in items] == [
        ("liquidation_cascade:BTC:1", 101),
        ("liquidation_cascade:BTC:5", 105),
    ]


def test_history_of_a_stage_the_local_stack_lacks_names_the_table(cli_env, monkeypatch, capsys) -> None:
    monkeypatch.delenv("HISTORY_TABLE")
    assert main(["history", "--stage", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert "crypto-alerts-nowhere-AlertHistoryTable: ResourceNotFoundException" in err and "Traceback" not in err


def test_local_names_are_those_the_local_stack_gives(cli_env) -> None:
    ctx = Context(stage="local")
    for logical in ("AlertHistoryTable", "AlertQueue"):
        assert cli_env.attributes.get((logical, "QueueName"), cli_env.refs[logical]) == ctx._local_name(logical)


def test_on_the_local_stack_names_follow_from_the_stage_alone(cli_env, history, monkeypatch, capsys) -> None:
    monkeypatch.delenv("HISTORY_TABLE")
    monkeypatch.delenv("ALERT_QUEUE_URL")
    monkeypatch.delenv("STAGE")
    assert main(["history", "--json", "--stage", "local"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert main(["status", "--stage", "local", "--listener-url", "http://127.0.0.1:1"]) == 1
    out = capsys.readouterr().out
    assert "last 24 h: 1 delivered, 1 duplicate, 1 failed" in out and "alert queue: 0 waiting" in out


# ---------------------------------------------------------------- telegram setup
def test_telegram_setup_sends_a_test_message_then_stores_token_and_chat_id(
    cli_env, http_server, monkeypatch, capsys
) -> None:
    api_url, requests = http_server(lambda m, p, b: (200, {"ok": True, "result": {"message_id": 42}}))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert main(["telegram", "setup", "--chat-id", "-100123", "--api-url", api_url]) == 0

    [(method, path, body)] = requests
    assert (method, path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert json.loads(body)["chat_id"] == "-100123"
    token = ssm().get_parameter(Name="/crypto-alerts/local/telegram/bot-token", WithDecryption=True)["Parameter"]
    assert (token["Type"], token["Value"]) == ("SecureString", TOKEN)
    chat = ssm().get_parameter(Name="/crypto-alerts/local/telegram/chat-id")["Parameter"]
    assert (chat["Type"], chat["Value"]) == ("String", "-100123")
    out = capsys.readouterr()
    assert "message id 42" in out.out
    assert TOKEN not in out.out + out.err


def test_telegram_setup_reads_the_token_from_stdin(cli_env, http_server, monkeypatch) -> None:
    api_url, requests = http_server(lambda m, p, b: (200, {"ok": True, "result": {"message_id": 1}}))
    monkeypatch.setattr(sys, "stdin", _Stdin(TOKEN + "\n"))
    args = [
        "telegram",
        "setup",
        "--token-stdin",
        "--chat-id",
        "7",
        "--api-url",
        api_url,
        "--token-parameter",
        "/custom/token",
        "--chat-id-parameter",
        "/custom/chat",
    ]
    assert main(args) == 0
    assert requests[0][1] == f"/bot{TOKEN}/sendMessage"
    assert ssm().get_parameter(Name="/custom/token", WithDecryption=True)["Parameter"]["Value"] == TOKEN


@pytest.mark.parametrize(
    ("status", "payload", "hint"),
    [
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, "token"),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, "chat id"),
    ],
)
def test_telegram_setup_refused_by_telegram_stores_nothing_and_never_prints_the_token(
    cli_env, http_server, monkeypatch, capsys, status, payload, hint
) -> None:
    api_url, _ = http_server(lambda m, p, b: (status, payload))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert main(["telegram", "setup", "--chat-id", "1", "--api-url", api_url]) == 1
    out = capsys.readouterr()
    assert f"HTTP {status}" in out.err and hint in out.err and "nothing stored" in out.err
    assert TOKEN not in out.out + out.err
    with pytest.raises(ssm().exceptions.ParameterNotFound):
        ssm().get_parameter(Name="/crypto-alerts/local/telegram/bot-token")


def test_telegram_setup_with_telegram_unreachable_never_prints_the_token(cli_env, monkeypatch, capsys) -> None:
    from infra.local.moto_server import free_port

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert main(["telegram", "setup", "--chat-id", "1", "--api-url", f"http://127.0.0.1:{free_port()}"]) == 1
    out = capsys.readouterr()
    assert "unreachable" in out.err and TOKEN not in out.out + out.err


class _Stdin:
    def __init__(self, text: str) -> None:
        self._text = text

    def readline(self) -> str:
        return self._text

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------- status
def test_status_reports_listener_health_activity_and_queues(cli_env, history, http_server, capsys) -> None:
    listener_url, _ = http_server(
        lambda m, p, b: (200, {"ok": True}) if p == "/health" else (200, {"connected": True, "frames": 1234})
    )
    assert main(["status", "--listener-url", listener_url]) == 0
    out = capsys.readouterr().out
    assert "healthy" in out and '"frames": 1234' not in out and "frames: 1234" in out
    assert "last 24 h: 1 delivered, 1 duplicate, 1 failed" in out
    assert "alert queue: 0 waiting, 0 in flight" in out
    assert "dead-letter queue: 0 message(s)" in out


def test_status_fails_on_an_unhealthy_listener_or_dead_letters(cli_env, http_server, capsys) -> None:
    listener_url, _ = http_server(lambda m, p, b: (503, {"connected": False}))
    boto3.client("sqs").send_message(QueueUrl=cli_env.refs["AlertDeadLetterQueue"], MessageBody="{}")
    assert main(["status", "--listener-url", listener_url]) == 1
    out = capsys.readouterr().out
    assert "UNHEALTHY" in out and "dead-letter queue: 1 message(s)" in out


def test_status_on_the_local_stack_without_a_listener_says_unreachable(cli_env, monkeypatch, capsys) -> None:
    from infra.local.moto_server import free_port

    monkeypatch.setenv("HEALTH_PORT", str(free_port()))
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "listener:\n  unavailable: listener unreachable at http://127.0.0.1:" in out
    assert "alert queue:" in out  # the other sections still report


def test_status_on_aws_reads_the_ecs_service_and_the_last_frame_metric(cli_env, capsys) -> None:
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="crypto-alerts")
    ecs.register_task_definition(
        family="listener", containerDefinitions=[{"name": "listener", "image": "listener:latest", "memory": 512}]
    )
    service = ecs.create_service(
        cluster="crypto-alerts", serviceName="listener", taskDefinition="listener", desiredCount=1
    )["service"]
    boto3.client("cloudwatch").put_metric_data(
        Namespace=metrics.NAMESPACE,
        MetricData=[
            {
                "MetricName": metrics.SECONDS_SINCE_LAST_FRAME,
                "Value": 3.0,
                "Unit": "Seconds",
                "Dimensions": [{"Name": "service", "Value": "listener"}],
            }
        ],
    )
    # moto places no tasks (no container instances), so the service runs 0 of 1: unhealthy.
    assert main(["status", "--service", service["serviceArn"]]) == 1
    out = capsys.readouterr().out
    assert "listener:\n  UNHEALTHY\n  ECS service listener: 0 running of 1 desired" in out
    assert f"{metrics.SECONDS_SINCE_LAST_FRAME}: 3 s" in out


# ---------------------------------------------------------------- errors and the console script
def test_an_unreachable_aws_endpoint_is_one_line_not_a_traceback(cli_env, monkeypatch, capsys) -> None:
    from infra.local.moto_server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["thresholds", "show"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("crypto-alerts: error: cannot read /crypto-alerts/local/thresholds")
    assert "Traceback" not in err


def test_usage_errors_exit_2(cli_env, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["thresholds", "set", "oi.BTC.change_pct"])
    assert exit_.value.code == 2


def test_console_script_runs_against_the_emulator(cli_env, moto_server: MotoServer) -> None:
    script = Path(sys.executable).parent / "crypto-alerts"
    env = {**os.environ, **moto_server.env(), "STAGE": "local"}
    done = subprocess.run(
        [str(script), "thresholds", "set", "oi.ETH.change_pct", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [str(script), "thresholds", "set", "oi.ETH.change_pct", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "oi.ETH.change_pct" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(
        [str(script), "thresholds", "show"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["oi"]["ETH"] == {"change_pct": 30}
