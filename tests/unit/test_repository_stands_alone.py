"""The repository stands alone (architecture.md §2.10): no tracked file names a path outside it.

A clone has nothing beside it, so a relative path that climbs out of the repository, a path of the
machine it was written on, or code that walks above the repository root would break on a fresh clone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from infra.repo import REPO_ROOT

# Folders a working copy may hold that are not part of the repository (ignored by .gitignore).
NOT_TRACKED = {".git", ".venv", ".venv-sam", ".aws-sam", ".local", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
CLIMBS = re.compile(r"(?:\.\./)+[^\s\"'`)\]>]*")
MACHINE_PATHS = re.compile(r"(?<![\w.])/(?:work|home|Users|root)/[\w.-]+")
ABOVE_ROOT = re.compile(r"REPO_ROOT\s*\.\s*parent|Path\(__file__\)[^\n]*\.parents?\[\s*[3-9]")


def tracked_files() -> list[Path]:
    """The tracked files; outside a git checkout (an archive), every file but the ignored folders."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, text=True
        ).stdout.split("\0")
        return [REPO_ROOT / name for name in names if name]
    except (OSError, subprocess.CalledProcessError):
        return [
            p for p in REPO_ROOT.rglob("*") if p.is_file() and not NOT_TRACKED & set(p.relative_to(REPO_ROOT).parts)
        ]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError):
        return None  # binary, or deleted in the working copy but still in the index


def escapes(base: Path, reference: str) -> bool:
    """Whether `reference`, read relative to `base`, lands outside the repository."""
    target = (base / reference).resolve()
    return target != REPO_ROOT and REPO_ROOT not in target.parents


def outside_references(path: Path, text: str) -> list[str]:
    found = []
    for match in CLIMBS.finditer(text):
        # A link in a document is relative to its folder; a command or a code path to the root.
        if escapes(path.parent, match.group()) and escapes(REPO_ROOT, match.group()):
            found.append(match.group())
    found += MACHINE_PATHS.findall(text)
    found += ABOVE_ROOT.findall(text) if path.suffix == ".py" else []
    return found


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 100  # the walk found the repository, not an empty folder
    offenders = {}
    for path in files:
        if path == Path(__file__).resolve():
            continue  # its own examples of ways out, below, are there on purpose
        text = text_of(path)
        if text is not None and (refs := outside_references(path, text)):
            offenders[str(path.relative_to(REPO_ROOT))] = refs
    assert offenders == {}


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("README.md", "see [the design](../shared/DESIGN.md)"),
        ("docs/x.md", "data in ../../shared/data/x.csv"),
        ("infra/x.py", 'RECORDING = REPO_ROOT.parent / "shared" / "data"'),
        ("Makefile", "replay /work/shared/data/x.csv"),
    ],
)
def test_the_check_catches_each_way_out(where: str, text: str) -> None:
    assert outside_references(REPO_ROOT / where, text)


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("docs/architecture.md", "[CONTRIBUTING.md](../CONTRIBUTING.md) and [data](../data/README.md)"),
        ("tests/integration/x.py", "REPO_ROOT = Path(__file__).resolve().parents[2]"),
        (".ci/run", 'cd "$(dirname "$0")/.."'),
    ],
)
def test_paths_inside_the_repository_pass(where: str, text: str) -> None:
    assert outside_references(REPO_ROOT / where, text) == []
