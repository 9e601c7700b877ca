"""Child side of `lambda_runtime.FunctionProcess`: one warm execution environment.

Usage: python -m infra.local.lambda_worker CODE_DIR MODULE.FUNCTION
Replies (JSON lines) go to the original stdout; everything the function prints or logs goes to
stderr, as Lambda sends a function's output to its log stream.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


def main() -> None:
    code_dir, handler_path = sys.argv[1], sys.argv[2]
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the function's own stdout (Powertools logs, EMF) goes where stderr goes
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.path.insert(0, code_dir)

    from infra.local.lambda_runtime import LambdaContext

    started = time.perf_counter()
    module_name, function_name = handler_path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    replies.write(json.dumps({"ready": True, "init_s": time.perf_counter() - started}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(**request["context"])
        reply: dict[str, Any]
        try:
            reply = {"result": handler(request["event"], context)}
        except Exception as exc:  # reported to the caller as a function error, as Lambda does
            traceback.print_exc()
            reply = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        replies.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
