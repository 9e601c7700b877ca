"""template.yaml gives DispatcherFunction what its code relies on (one place per fact, checked)."""

from __future__ import annotations

from typing import Any

import pytest

from cryptoalerts import config
from dispatcher import app, telegram_send
from infra.local import template as tpl


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return tpl.default()["Resources"]


def props(resources: dict[str, Any], logical: str) -> dict[str, Any]:
    return resources[logical]["Properties"]


def function_timeout_s(resources: dict[str, Any]) -> int:
    glob = tpl.default()["Globals"]["Function"]
    return int(props(resources, "DispatcherFunction").get("Timeout", glob.get("Timeout", 3)))


def test_sqs_event_source_is_batched_with_partial_failures(resources: dict[str, Any]) -> None:
    fn = props(resources, "DispatcherFunction")
    assert fn["Handler"] == "dispatcher.app.handler"
    (event,) = (e["Properties"] for e in fn["Events"].values() if e["Type"] == "SQS")
    assert event["BatchSize"] == 10
    assert event["MaximumBatchingWindowInSeconds"] <= 1
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queue_visibility_and_redrive(resources: dict[str, Any]) -> None:
    queue = props(resources, "AlertQueue")
    assert queue["VisibilityTimeout"] >= 6 * function_timeout_s(resources)
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AlertDeadLetterQueue", "Arn"]}
    # Exactly-once per id for as long as a message can wait in the queue.
    assert queue["MessageRetentionPeriod"] <= app.IDEMPOTENCY_EXPIRY_S


def test_a_full_worst_case_send_fits_in_the_time_reserve(resources: dict[str, Any]) -> None:
    worst_send_ms = 1000 * (
        telegram_send.CONNECT_TIMEOUT_S
        + telegram_send.WRITE_TIMEOUT_S
        + telegram_send.READ_TIMEOUT_S
        + telegram_send.POOL_TIMEOUT_S
    )
    assert worst_send_ms < app.RESERVE_MS < 1000 * function_timeout_s(resources)


def test_environment_names_every_resource_the_code_reads(resources: dict[str, Any]) -> None:
    env = props(resources, "DispatcherFunction")["Environment"]["Variables"]
    assert env[config.ALERT_QUEUE_URL] == {"Ref": "AlertQueue"}
    assert env[config.ALERT_DEAD_LETTER_QUEUE_URL] == {"Ref": "AlertDeadLetterQueue"}
    assert env[config.STATE_TABLE] == {"Ref": "StateTable"}
    assert env[config.IDEMPOTENCY_TABLE] == {"Ref": "IdempotencyTable"}
    assert env[config.HISTORY_TABLE] == {"Ref": "AlertHistoryTable"}
    assert env[config.TELEGRAM_TOKEN_PARAMETER] == {"Ref": "TelegramTokenParameterName"}
    assert env[config.TELEGRAM_CHAT_ID_PARAMETER] == {"Ref": "TelegramChatIdParameterName"}
    assert config.TELEGRAM_API_URL in env


def test_tables_expire_items_by_ttl(resources: dict[str, Any]) -> None:
    ttl = {
        name: props(resources, name)["TimeToLiveSpecification"]
        for name in ("StateTable", "IdempotencyTable", "AlertHistoryTable")
    }
    assert ttl["IdempotencyTable"] == {"AttributeName": "expiration", "Enabled": True}  # Powertools' attribute
    assert ttl["StateTable"] == ttl["AlertHistoryTable"] == {"AttributeName": "expires_at", "Enabled": True}


def test_least_privilege_statements(resources: dict[str, Any]) -> None:
    statements = [s for p in props(resources, "DispatcherFunction")["Policies"] for s in p.get("Statement", [])]

    def granted(action: str) -> list[Any]:
        return [s["Resource"] for s in statements if action in s["Action"]]

    assert granted("sqs:ChangeMessageVisibility") == [{"Fn::GetAtt": ["AlertQueue", "Arn"]}]
    assert granted("sqs:SendMessage") == [{"Fn::GetAtt": ["AlertDeadLetterQueue", "Arn"]}]
    assert granted("dynamodb:PutItem")[1] == {"Fn::GetAtt": ["AlertHistoryTable", "Arn"]}
    (kms,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert kms["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/aws/ssm"}
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    assert not any("*" in a for s in statements for a in s["Action"])


def test_sample_event_for_sam_local_invoke_carries_a_schema_1_alert() -> None:
    import json

    from cryptoalerts.alert import decode

    event = json.loads((tpl.REPO_ROOT / "events" / "DispatcherFunction.json").read_text())
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert decode(record["body"]).kind == "liquidation_cascade"
