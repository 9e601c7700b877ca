"""The repository stands alone (architecture.md §2.10): no tracked file names a path outside it, and
every link between its documents lands on a file and a heading that exist.

A clone has nothing beside it, so a relative path that climbs out of the repository, a path of the
machine it was written on, or code that walks above the repository root would break on a fresh clone;
a link to a moved file or a renamed section breaks the docs the same way.
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
# Code blocks and spans hold examples, not links.
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


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


def anchors(markdown: str) -> set[str]:
    """The fragment GitHub gives each heading: lower case, punctuation dropped, spaces to hyphens, and
    -1, -2, ... after a repeated one."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(path: Path, text: str, tracked: set[Path]) -> list[str]:
    """The links of `text` (the document at `path`) to a file that is not tracked or a heading that
    is not there."""
    return [
        target
        for target in LINK.findall(SPAN.sub("", FENCED.sub("", text)))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # a web address, not a file of the repository
        and not lands(path, *target.split("#", 1), tracked=tracked)
    ]


def lands(path: Path, file: str, fragment: str = "", *, tracked: set[Path]) -> bool:
    linked = (path.parent / file).resolve() if file else path
    if linked not in tracked and not any(linked in p.parents for p in tracked):  # a file, or a folder
        return False
    return not fragment or linked.suffix != ".md" or fragment in anchors(linked.read_text(encoding="utf-8"))


def test_every_relative_link_between_the_documents_resolves() -> None:
    tracked = set(tracked_files())
    documents = [path for path in tracked if path.suffix == ".md"]
    assert {"README.md", "CONTRIBUTING.md", "docs/architecture.md"} <= {
        str(p.relative_to(REPO_ROOT)) for p in documents
    }
    broken = {
        str(p.relative_to(REPO_ROOT)): links
        for p in documents
        if (links := broken_links(p, p.read_text(encoding="utf-8"), tracked))
    }
    assert broken == {}


@pytest.mark.parametrize(
    ("link", "fine"),
    [
        ("[contracts](docs/architecture.md)", True),
        ("[rules](docs/architecture.md#27-detection-rules)", True),
        ("[time](docs/architecture.md#26-time)", True),
        ("[moved](docs/architecture-old.md)", False),
        ("[renamed](docs/architecture.md#27-detection)", False),
        ("[web](https://core.telegram.org/bots/api#setwebhook)", True),
        ("`[in code](docs/nowhere.md)`", True),
        ("[a folder](docs/)", True),
        ("[ignored, not in a clone](.venv/bin/python)", False),
    ],
)
def test_the_link_check_tells_a_broken_link_from_a_good_one(link: str, fine: bool) -> None:
    assert (broken_links(REPO_ROOT / "README.md", link, set(tracked_files())) == []) is fine
