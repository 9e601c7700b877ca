"""listener/Dockerfile and listener/requirements.txt: arm64, non-root, health check, and every
third-party module `python -m listener` imports is installed by the image's requirements."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "listener" / "Dockerfile").read_text()


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(_canonical(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: set[str]) -> set[str]:
    """The distributions pip installs for `names`: themselves and their unconditional dependencies."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in metadata.requires(name) or []:
            if ";" in req and "extra ==" in req:
                continue
            todo.append(_canonical(re.split(r"[<>=!~\[; (]", req, maxsplit=1)[0]))
    return seen


def test_image_basics() -> None:
    assert DOCKERFILE.count("FROM ") == 1
    assert "FROM --platform=linux/arm64 python:3.13-slim" in DOCKERFILE
    assert "COPY functions/cryptoalerts /app/functions/cryptoalerts" in DOCKERFILE
    assert "COPY listener /app/listener" in DOCKERFILE
    assert re.search(r"^USER (?!root|0\b)\S+", DOCKERFILE, re.MULTILINE)
    assert 'CMD ["python", "-m", "listener.healthcheck"]' in DOCKERFILE
    assert DOCKERFILE.rstrip().endswith('CMD ["python", "-m", "listener"]')


def test_requirements_cover_every_third_party_import_of_the_listener() -> None:
    probe = (
        "import json, sys, sysconfig\n"
        "import listener.__main__, listener.healthcheck, listener.service, listener.sqs, listener.thresholds\n"
        "listener.__main__._loop_factory()  # imports the event loop `python -m listener` runs on\n"
        "site = sysconfig.get_paths()['purelib']\n"
        "mods = {m.split('.')[0] for m, mod in list(sys.modules.items())\n"
        "        if (getattr(mod, '__file__', None) or '').startswith(site)}\n"
        "print(json.dumps(sorted(mods)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    # `_distutils_hack` is this virtualenv's own .pth hook; botocore imports certifi only if present
    # and otherwise uses its bundled CA file.
    imported = set(json.loads(out.stdout)) - {"listener", "cryptoalerts", "_distutils_hack", "certifi"}
    top_level = metadata.packages_distributions()
    needed = {_canonical(top_level[m][0]) for m in imported if m in top_level}
    installed = _closure(_requirement_names(ROOT / "listener" / "requirements.txt"))
    assert needed <= installed, f"not installed by listener/requirements.txt: {sorted(needed - installed)}"
    assert {"botocore", "aws-lambda-powertools", "websockets", "msgspec", "uvloop"} <= needed
    assert "boto3" not in needed  # 2.8 MB resident for nothing the listener uses (docs/decisions.md)
