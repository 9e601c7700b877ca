"""Shared fixtures: moto server on loopback and the template's resources deployed into it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The Lambda code runs from its CodeUri folder, as `sam local invoke` does.
sys.path.insert(0, str(REPO_ROOT / "functions"))

from infra.local import aws_resources  # noqa: E402
from infra.local.moto_server import MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean emulator and an environment whose boto3 clients talk to it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


@pytest.fixture
def stack(aws_env: MotoServer) -> aws_resources.Stack:
    """template.yaml's tables, queues and parameters, freshly created in the emulator."""
    return aws_resources.deploy(aws_env.endpoint_url)


@pytest.fixture
def function_env(stack: aws_resources.Stack, monkeypatch: pytest.MonkeyPatch):
    """Apply the environment template.yaml gives a function (by logical id) to this process."""

    def apply(logical_id: str) -> dict[str, str]:
        env = stack.function_environment(logical_id)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return env

    return apply
