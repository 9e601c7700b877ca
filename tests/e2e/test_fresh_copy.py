"""The repository stands alone (architecture.md §2.10): its tracked files, copied into an empty folder
with nothing beside them, run the demo and the backtest with the existing .venv, and every make target
finds its prerequisites there.

The copy is made the way git hands the repository out (`git archive` of the working tree's tracked
files), so a file that is used but not tracked, or a path that reaches outside, fails here.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.repo import REPO_ROOT

TUNED = {  # low enough to fire on the calm recordings: a few cascades and OI rises
    "symbols": ["BTC", "ETH", "SOL", "XRP", "ASTER", "PEPE", "币安人生", "BNB", "DOGE", "SUI"],
    "liquidation": {"default": {"min_usd": 2000, "cascade_count": 3, "window_s": 30}},
    "oi": {"default": {"change_pct": 1.0, "window_min": 15, "min_exchanges": 1}, "BTC": {"change_pct": 1.0}},
}


def archive_of_the_working_tree() -> bytes:
    """`git archive` of the tracked files as they are now (uncommitted edits included)."""
    git = ["git", "-C", str(REPO_ROOT)]
    tree = subprocess.run([*git, "stash", "create"], capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run([*git, "archive", "--format=tar", tree or "HEAD"], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    alone = tmp_path_factory.mktemp("alone")  # an empty folder: the copy has nothing beside it
    with tarfile.open(fileobj=io.BytesIO(archive_of_the_working_tree())) as tar:
        tar.extractall(alone / "repo", filter="data")
    assert sorted(p.name for p in alone.iterdir()) == ["repo"]
    return alone / "repo"


def python_in(copy: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The existing .venv's interpreter run in the copy, with the copy's code ahead of the repository's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(copy / "functions")])}
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tuned(copy: Path) -> Iterator[Path]:
    path = copy.parent / "tuned.json"
    path.write_text(json.dumps(TUNED, ensure_ascii=False), encoding="utf-8")
    yield path
    path.unlink()


def test_the_copy_runs_the_copys_own_code(copy: Path) -> None:
    code = "import cryptoalerts, infra.repo; print(infra.repo.REPO_ROOT, cryptoalerts.__file__)"
    done = python_in(copy, "-c", code, timeout=60)
    assert done.returncode == 0, done.stderr
    root, core = done.stdout.split()
    assert Path(root) == copy and Path(core).is_relative_to(copy)


def test_the_demo_shows_both_alert_kinds_and_ends_by_itself_with_a_summary(copy: Path) -> None:
    done = python_in(copy, "-m", "infra.local", "--demo", timeout=180)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "│ 🚨 BTC LIQUIDATION CASCADE" in out and "│ 🚨 BTC OI EXPLOSION" in out  # printed as it would look
    assert "=== demo summary ===" in out
    assert "Telegram alerts: 2 (LIQUIDATION CASCADE: 1, OI EXPLOSION: 1)" in out
    assert "result: both alert kinds delivered" in out
    assert any((copy / ".local" / "logs").iterdir())  # the stack ran from the copy and logged there


def test_the_backtest_reads_the_copys_data_and_reports_as_in_the_repository(copy: Path, tuned: Path) -> None:
    args = ["--liquidations", "data/binance_liquidations_2025-10-22.csv"]
    args += ["--oi", "data/btc_binance_oi_5m_2026-06.csv", "--thresholds", str(tuned)]
    in_copy = python_in(copy, "-m", "infra.cli.main", "backtest", *args, timeout=120)
    assert in_copy.returncode == 0, in_copy.stderr
    assert "liquidations: 1426 frames" in in_copy.stdout and "open interest: 4406 evaluations" in in_copy.stdout
    fired = int(in_copy.stdout.split("would have fired: ")[1].split()[0])
    assert fired > 0
    in_repo = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "backtest", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert in_copy.stdout == in_repo.stdout


def test_every_make_target_finds_what_it_needs_in_the_copy(copy: Path) -> None:
    """`make -n` in the copy: each target's prerequisites (pyproject.toml, the peers' requirements, ...)
    are tracked files. deploy and listener-image are left out: under -n, make still runs a recipe that
    calls $(MAKE), and theirs talk to AWS."""
    make = shutil.which("make")
    assert make, "make is what CI runs (.ci/run)"
    phony = re.search(r"^\.PHONY:(.*)$", (copy / "Makefile").read_text(), re.MULTILINE)
    assert phony
    targets = sorted(set(phony.group(1).split()) - {"deploy", "listener-image"})
    assert {"install", "test", "run", "demo", "bench", "bench-peers"} <= set(targets)
    for target in targets:
        done = subprocess.run([make, "-n", target], cwd=copy, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"make -n {target}: {done.stderr}"
