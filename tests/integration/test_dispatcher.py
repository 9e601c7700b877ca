"""DispatcherFunction over real sockets: moto server (SQS, DynamoDB, SSM) and the fake Telegram Bot API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from dispatcher_harness import Harness, cascade, open_harness

from infra.fakes.telegram import Fault


@pytest.fixture
def h(stack: Any, function_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with open_harness(stack, function_env, monkeypatch) as harness:
        yield harness


def test_delivers_the_seed_message(h: Harness) -> None:
    h.send(cascade(0))
    h.run()
    (message,) = h.fake.messages
    assert message.parse_mode == "HTML"
    assert message.rendered.splitlines()[:5] == [
        "🚨 BTC LIQUIDATION CASCADE",
        "⚡ 7 liquidations in 30 seconds",
        "💰 Total: $1.2M liquidated",
        "📉 5 longs, 2 shorts",
        "⚠️ Potential price impact expected",
    ]
    (item,) = h.history()
    assert item["status"]["S"] == "delivered"
    assert item["telegram_message_id"]["N"] == str(message.message_id)
    assert item["day"]["S"] == "2025-10-22"
    assert item["sk"]["S"] == f"2025-10-22T09:38:13.270Z#{cascade(0).id}"
    assert json.loads(item["alert"]["S"]) == cascade(0).to_dict()
    assert h.queue_counts() == (0, 0)


def test_same_alert_delivered_three_times_by_sqs_sends_one_message(h: Harness) -> None:
    alert = cascade(0)
    h.send(alert, alert)
    h.run()  # two copies in one batch
    h.send(alert)
    h.run()  # a third copy later, in its own batch
    # and a redelivery of an already handled message (SQS at-least-once): handled, not deleted
    h.send(alert)
    first = h.receive()
    h.invoke(h.event(first))
    h.make_visible(first)
    again = h.receive()
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in first]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert h.invoke(h.event(again)) == {"batchItemFailures": []}

    assert len(h.fake.messages) == 1
    assert h.statuses() == ["delivered"]
    assert h.budget_used() == 1


def test_two_batches_in_parallel_with_the_same_alert_send_one_message(h: Harness) -> None:
    alert = cascade(0)
    h.send(alert, alert)
    batches = [h.receive(at_most=1), h.receive(at_most=1)]
    assert all(len(b) == 1 for b in batches)
    h.fake.delay_s = 0.5  # the first send is still in flight when the second batch arrives
    start = threading.Barrier(2)
    responses: list[dict[str, Any]] = []

    def run(batch: list[dict[str, Any]]) -> None:
        start.wait()
        responses.append(h.invoke(h.event(batch)))

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    h.fake.delay_s = 0
    assert len(h.fake.messages) == 1
    # The loser saw the alert in progress and failed its item; on redelivery it finds the outcome.
    failed = [r for r in responses if r["batchItemFailures"]]
    assert len(failed) <= 1
    h.make_visible([m for b in batches for m in b])
    h.run()
    assert len(h.fake.messages) == 1
    assert h.queue_counts() == (0, 0)
    assert h.statuses() == ["delivered"]


def test_fifteen_high_alerts_with_distinct_keys_in_one_hour_send_ten(h: Harness) -> None:
    h.send(*(cascade(i, "HIGH", symbol=f"SYM{i}") for i in range(15)))
    h.run()
    assert len(h.fake.messages) == 10
    assert sorted(h.statuses()) == ["delivered"] * 10 + ["rate_limited"] * 5
    assert h.budget_used() == 10
    assert h.queue_counts() == (0, 0)
    # the next hour has a fresh budget
    h.now += timedelta(hours=1)
    h.send(cascade(99, "HIGH", symbol="NEXT"))
    h.run()
    assert len(h.fake.messages) == 11


def test_ten_low_then_ten_high_send_five_plus_five(h: Harness) -> None:
    h.send(*(cascade(i, "LOW", symbol=f"LOW{i}") for i in range(10)))
    h.run()
    assert len(h.fake.messages) == 5
    h.send(*(cascade(100 + i, "HIGH", symbol=f"HIGH{i}") for i in range(10)))
    h.run()
    texts = [m.rendered.splitlines()[0] for m in h.fake.messages]
    assert sum("LOW" in t for t in texts) == 5
    assert sum("HIGH" in t for t in texts) == 5
    assert h.budget_used() == 10
    limited = [i for i in h.history() if i["status"]["S"] == "rate_limited"]
    assert len(limited) == 10
    assert {i["priority"]["S"] for i in limited} == {"LOW", "HIGH"}


def test_repeat_within_dedup_window_is_a_duplicate(h: Harness) -> None:
    first, repeat, later = cascade(0), cascade(1), cascade(2)  # same dedup key, different ids
    assert first.dedup_key == repeat.dedup_key == later.dedup_key
    h.send(first)
    h.run()
    h.now += timedelta(seconds=299)
    h.send(repeat)
    h.run()
    assert len(h.fake.messages) == 1
    dup = h.history()[-1]
    assert dup["status"]["S"] == "duplicate"
    assert dup["id"]["S"] == repeat.id
    assert first.id in dup["error"]["S"]
    h.now += timedelta(seconds=1)  # 300 s after the first: the window is over
    h.send(later)
    h.run()
    assert len(h.fake.messages) == 2
    assert h.statuses() == ["delivered", "duplicate", "delivered"]


def test_expired_dedup_item_still_in_the_table_does_not_block(h: Harness) -> None:
    alert = cascade(5)
    # TTL has not deleted it yet (it lags by days), but its expiry has passed.
    h.ddb.put_item(
        TableName=h.env["STATE_TABLE"],
        Item={
            "pk": {"S": f"dedup#{alert.dedup_key}"},
            "owner": {"S": "liquidation_cascade:BTC:1"},
            "expires_at": {"N": str(int(h.now.timestamp()) - 1)},
        },
    )
    h.send(alert)
    h.run()
    assert len(h.fake.messages) == 1
    assert h.statuses() == ["delivered"]


def test_429_then_success_sends_once_and_uses_one_budget_unit(h: Harness) -> None:
    h.fake.script(Fault.too_many_requests(retry_after=1))
    alert = cascade(0)
    h.send(alert)
    h.run()
    assert h.fake.messages == []
    assert [r.status for r in h.fake.requests] == [429]
    assert h.budget_used() == 0  # given back
    # Back after retry_after (1 s), not after the queue's 180 s visibility timeout.
    again = h.receive(wait_s=5)
    assert len(again) == 1 and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert h.invoke(h.event(again)) == {"batchItemFailures": []}
    h.sqs.delete_message(QueueUrl=h.queue_url, ReceiptHandle=again[0]["ReceiptHandle"])
    assert len(h.fake.messages) == 1
    assert h.budget_used() == 1
    assert [s for s in h.statuses() if s != "failed"] == ["delivered"]
    # the retry's dedup claim is its own, held by the delivered alert
    claim = h.ddb.get_item(TableName=h.env["STATE_TABLE"], Key={"pk": {"S": f"dedup#{alert.dedup_key}"}})["Item"]
    assert claim["owner"]["S"] == alert.id


def test_malformed_messages_go_to_the_dead_letter_queue_and_the_rest_is_delivered(h: Harness) -> None:
    wrong_schema = {**cascade(1).to_dict(), "schema": 2}
    h.send(cascade(0, symbol="BTC"), "not json at all", json.dumps(wrong_schema), cascade(2, symbol="ETH"))
    h.run()
    assert all(r == {"batchItemFailures": []} for r in h.responses)
    assert len(h.fake.messages) == 2
    assert h.queue_counts() == (0, 0)
    dead = h.dead_letters()
    assert sorted(m["Body"] for m in dead) == sorted(["not json at all", json.dumps(wrong_schema)])
    assert all("error" in m["MessageAttributes"] for m in dead)
    invalid = [i for i in h.history() if i["status"]["S"] == "failed"]
    assert len(invalid) == 2
    assert all(i["error"]["S"].startswith("invalid alert:") for i in invalid)
    assert {i["id"]["S"] for i in invalid} >= {cascade(1).id}  # the id is kept when the body has one


@pytest.mark.parametrize(
    ("fault", "text"),
    [(Fault.chat_not_found(), "chat not found"), (Fault.blocked(), "bot was blocked by the user")],
)
def test_400_and_403_are_recorded_failed_and_not_retried(
    h: Harness, fault: Fault, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    h.fake.script(fault)
    h.send(cascade(0))
    h.run()
    assert h.responses == [{"batchItemFailures": []}]
    assert h.queue_counts() == (0, 0)  # deleted: no retry loop
    assert h.statuses() == ["failed"]
    assert text in h.history()[0]["error"]["S"].lower()
    assert h.budget_used() == 0
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert any(m.get("TelegramErrors") and m.get("reason") == "rejected" for m in metrics)
    assert any(m.get("Alerts") and m.get("status") == "failed" for m in metrics)


def test_server_errors_are_retried_then_dead_lettered_by_redrive(h: Harness) -> None:
    h.fake.script(*[Fault.server_error()] * 10)
    h.send(cascade(0))
    redrive = json.loads(
        h.sqs.get_queue_attributes(QueueUrl=h.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    max_receives = int(redrive["maxReceiveCount"])
    for attempt in range(1, max_receives + 1):
        batch = h.receive()
        assert len(batch) == 1, attempt
        assert h.invoke(h.event(batch))["batchItemFailures"] == [{"itemIdentifier": batch[0]["MessageId"]}]
        assert h.receive() == []  # backing off: invisible for a while, not at once
        h.make_visible(batch)
    assert h.receive() == []  # the next receive moved it
    assert [m["Body"] for m in h.dead_letters()] == [cascade(0).encode()]
    assert len(h.fake.requests) == max_receives
    assert h.fake.messages == []
    assert h.budget_used() == 0
    assert all(i["error"]["S"].startswith("retrying:") for i in h.history())


def test_network_failure_is_retried_and_then_delivered_once(h: Harness) -> None:
    h.fake.script(Fault.drop())
    h.send(cascade(0))
    batch = h.receive()
    assert h.invoke(h.event(batch))["batchItemFailures"]
    h.make_visible(batch)
    h.run()
    assert len(h.fake.messages) == 1
    assert h.budget_used() == 1
    assert h.queue_counts() == (0, 0)


def test_slow_telegram_times_out_and_is_retried(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatcher import telegram_send

    monkeypatch.setattr(telegram_send, "READ_TIMEOUT_S", 0.3)
    from dispatcher import app

    app.reset()  # the sender reads its timeouts when it builds the bot
    h.fake.script(Fault.slow(1.5))
    h.send(cascade(0))
    batch = h.receive()
    assert h.invoke(h.event(batch))["batchItemFailures"]
    assert "TimedOut" in h.history()[-1]["error"]["S"]
    h.make_visible(batch)
    h.run()
    assert h.queue_counts() == (0, 0)
    assert h.budget_used() == 1
