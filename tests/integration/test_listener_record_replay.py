"""Record and replay: the listener's recording of all three feeds replays to the alerts it sent."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

from listener_harness import T0, btc, eventually, fake_exchanges, ready, receive_alerts, running_listener

from cryptoalerts import thresholds
from infra.cli import main as cli
from infra.cli import replay
from infra.fakes import okx_ws
from infra.fakes.ws_server import Garbage
from listener.record import HOUR_MS, Recorder, file_name


async def test_a_recording_of_three_feeds_replays_to_the_same_alerts(stack, tmp_path: Path, capsys) -> None:
    async with fake_exchanges() as ex, running_listener(ex.settings(stack, record_dir=str(tmp_path))) as run:
        await eventually(lambda: ready(run), timeout=15, what="three feeds subscribed")
        ex.binance.feed(btc("binance", 2, T0, spacing_ms=2000), Garbage("not json"))
        ex.bybit.feed(btc("bybit", 2, T0 + 500, spacing_ms=2000))
        ex.okx.feed(btc("okx", 1, T0 + 3000))
        ex.okx.feed(okx_ws.cascade_frames("ETH-USDT-SWAP", "buy", 5, 60_000, T0 + 60_000, contract_size=0.1))
        bodies = await receive_alerts(stack.refs["AlertQueue"], expected=2)
        frames = run.listener.status()["frames"]
    sent = sorted(b["id"] for b in bodies)
    assert len(sent) == 2
    files = sorted(tmp_path.glob("liquidations-*.jsonl.gz"))
    assert files
    records = list(replay.recording_records(files))
    assert {r["feed"] for r in records} == {"binance", "bybit", "okx"}
    assert any("contracts" in r for r in records)  # OKX's sizes, as the frames were read with them
    result = replay.replay_recording(records, thresholds.defaults())
    assert sorted(a.id for a in result.alerts) == sent
    assert [a.data for a in sorted(result.alerts, key=lambda a: a.id)] == [
        b["data"] for b in sorted(bodies, key=lambda b: b["id"])
    ]
    assert result.frames == frames and result.skipped == {"not_json": 1}
    # The operator's way: `crypto-alerts backtest --liquidations DIR`.
    assert cli.main(["backtest", "--liquidations", str(tmp_path)]) == 0
    report = capsys.readouterr().out
    assert "would have fired: 2 alert(s)" in report and "skipped: 1 not_json" in report
    assert cli.main(["backtest", "--liquidations", str(tmp_path / "nothing-here")]) != 0


async def test_files_rotate_hourly_and_each_starts_with_the_contract_sizes(tmp_path: Path) -> None:
    hour = 1_761_123_600_000 // HOUR_MS  # 2025-10-22T09
    recorder = Recorder(tmp_path, clock=lambda: hour * 3600 + 5.0)
    recorder._offset_s = 0.0  # receive times below are wall-clock seconds
    seen: list[bytes] = []
    on_frame = recorder.wrap("okx", lambda payload, text, t: seen.append(payload) or True)
    recorder.contracts("okx", {"BTC-USDT-SWAP": 0.01})
    on_frame(b'{"a":1}', True, hour * 3600 + 10.0)
    on_frame(b"\x00\x01", False, hour * 3600 + 3599.5)
    on_frame('{"b":"币"}'.encode(), True, (hour + 1) * 3600 + 1.0)
    stop = asyncio.Event()
    stop.set()
    await recorder.run(stop)
    assert seen == [b'{"a":1}', b"\x00\x01", '{"b":"币"}'.encode()]  # recording never changes what the feed sees
    first, second = tmp_path / file_name(hour), tmp_path / file_name(hour + 1)
    assert first.name == "liquidations-2025-10-22T09.jsonl.gz"
    lines = [json.loads(line) for line in gzip.decompress(first.read_bytes()).splitlines()]
    assert [sorted(r) for r in lines] == [["contracts", "feed", "t"], ["feed", "t", "text"], ["binary", "feed", "t"]]
    later = [json.loads(line) for line in gzip.decompress(second.read_bytes()).splitlines()]
    assert "contracts" in later[0] and later[1]["text"] == '{"b":"币"}'
    assert recorder.status()["files"] == 2 and recorder.status()["errors"] == 0
