"""Child processes of the local stack and the tests."""

from __future__ import annotations

import subprocess
from typing import Any


def terminate(proc: subprocess.Popen[Any], timeout_s: float = 10) -> int:
    """SIGTERM (a chance to flush and exit cleanly, as ECS and Lambda give), SIGKILL after `timeout_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
