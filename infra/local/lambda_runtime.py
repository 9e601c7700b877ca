"""Runs a template function the way Lambda (and `sam local invoke`) does, off AWS.

Each `FunctionProcess` is one warm "execution environment": a child process whose environment is
exactly what template.yaml gives the function (plus the emulator endpoint and local overrides),
whose import path is the function's `CodeUri`, and which imports the `Handler` once and then serves
invocations. Its stdout (the function's logs) is passed through or discarded; invocations travel
over a private pipe, so log lines can never corrupt them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any

from infra.local import aws_resources


class InvocationError(RuntimeError):
    """The handler raised; Lambda reports such an invocation as a function error."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.error_type = error_type


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str
    invoked_function_arn: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @classmethod
    def for_function(cls, logical_id: str, timeout_s: float = 30, memory_mb: int = 256) -> LambdaContext:
        """A fresh invocation's context for the template function `logical_id`."""
        return cls(
            function_name=logical_id,
            memory_limit_in_mb=memory_mb,
            timeout_s=timeout_s,
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=f"arn:aws:lambda:{aws_resources.REGION}:{aws_resources.ACCOUNT}:function:{logical_id}",
        )

    def to_dict(self) -> dict[str, Any]:
        """What crosses the pipe to the worker process, which rebuilds the context from it."""
        return {
            "function_name": self.function_name,
            "memory_limit_in_mb": self.memory_limit_in_mb,
            "timeout_s": self.timeout_s,
            "aws_request_id": self.aws_request_id,
            "invoked_function_arn": self.invoked_function_arn,
        }

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_settings(stack: aws_resources.Stack, logical_id: str) -> dict[str, Any]:
    """Handler, CodeUri, timeout and memory as the template (with its Globals) sets them."""
    glob = stack.template.get("Globals", {}).get("Function", {})
    props = {**glob, **stack.function(logical_id)}
    return {
        "handler": props["Handler"],
        "code_dir": str(stack.code_dir(logical_id)),
        "timeout_s": float(props.get("Timeout", 3)),
        "memory_mb": int(props.get("MemorySize", 128)),
    }


class FunctionProcess:
    def __init__(
        self,
        stack: aws_resources.Stack,
        logical_id: str,
        base_env: dict[str, str],
        overrides: dict[str, str] | None = None,
        log_to: IO[str] | int | None = subprocess.DEVNULL,
    ) -> None:
        self.logical_id = logical_id
        self.settings = function_settings(stack, logical_id)
        self.env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")},
            **base_env,
            **stack.function_environment(logical_id),
            **(overrides or {}),
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.settings["memory_mb"]),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        self._log_to = log_to
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> FunctionProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local.lambda_worker", self.settings["code_dir"], self.settings["handler"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_to,
            env={**self.env, "PYTHONPATH": _repo_root()},
            text=True,
            bufsize=1,
        )
        ready = self._read()
        if ready.get("ready") is not True:
            raise RuntimeError(f"{self.logical_id} failed to initialise: {ready}")
        self.init_s = float(ready["init_s"])
        return self

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously; returns the handler's result or raises InvocationError."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.start()  # Lambda replaces a crashed environment with a fresh one
            assert self._proc is not None and self._proc.stdin is not None
            context = LambdaContext.for_function(
                self.logical_id, self.settings["timeout_s"], self.settings["memory_mb"]
            )
            request = {"event": event, "context": context.to_dict()}
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            reply = self._read()
        if "error" in reply:
            raise InvocationError(self.logical_id, reply["error"]["type"], reply["error"]["message"])
        return reply.get("result")

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            raise RuntimeError(f"{self.logical_id} process exited with code {code}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None


def _repo_root() -> str:
    from infra.repo import REPO_ROOT

    return str(REPO_ROOT)
