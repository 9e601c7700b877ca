"""AWS's own API models, reduced to the operations the listener calls, for botocore.

Creating a client makes botocore load the service's whole API model into memory (SSM's alone is
about 4.6 MB of Python objects for the single GetParameter call the listener makes) and the
endpoints of every AWS service (6.8 MB), which would put the process over its 50 MB budget
(architecture.md §4). botocore reads its data from AWS_DATA_PATH before its bundled copy, so the listener
points it at `models/`: the same files, cut down to the operations below and every shape they
reach, and to the endpoints of these two services. `python -m listener.sdk_models` regenerates them from the
installed botocore; a unit test fails when they drift from it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent / "models"
OPERATIONS: dict[str, tuple[str, ...]] = {
    "sqs": ("SendMessageBatch",),  # listener.sqs
    "ssm": ("GetParameter",),  # thresholds through Powertools Parameters
}


def use() -> None:
    """Put the reduced models first on botocore's search path (before any session is created)."""
    paths = [p for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if p]
    if str(MODELS_DIR) not in paths:
        os.environ["AWS_DATA_PATH"] = os.pathsep.join([str(MODELS_DIR), *paths])


def reduced(service: str, operations: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(api version, model) with only `operations` and the shapes they reach, from bundled botocore."""
    import botocore.loaders

    loader = botocore.loaders.Loader()  # bundled models only, whatever AWS_DATA_PATH says
    version = loader.determine_latest_version(service, "service-2")
    model = loader.load_service_model(service, "service-2", version)
    shapes: set[str] = set()

    def reach(name: str) -> None:
        if name in shapes:
            return
        shapes.add(name)
        shape = model["shapes"][name]
        for key in ("member", "key", "value"):
            if key in shape:
                reach(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    for operation in operations:
        spec = model["operations"][operation]
        for key in ("input", "output"):
            if key in spec:
                reach(spec[key]["shape"])
        for error in spec.get("errors", []):
            reach(error["shape"])
    trimmed = {key: value for key, value in model.items() if key not in ("operations", "shapes")}
    trimmed["operations"] = {op: model["operations"][op] for op in operations}
    trimmed["shapes"] = {name: model["shapes"][name] for name in sorted(shapes)}
    return version, _without_docs(trimmed)


def _without_docs(node: Any) -> Any:
    """API documentation strings are for people; botocore never reads them at run time."""
    if isinstance(node, dict):
        return {k: _without_docs(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def reduced_endpoints(services: tuple[str, ...]) -> dict[str, Any]:
    """botocore's endpoints.json (every partition and region) with only `services` in it."""
    import botocore.loaders

    data: dict[str, Any] = botocore.loaders.Loader().load_data("endpoints")
    for partition in data["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in services}
    return data


def path_of(service: str, version: str) -> Path:
    return MODELS_DIR / service / version / "service-2.json"


def main() -> int:
    for service, operations in OPERATIONS.items():
        version, model = reduced(service, operations)
        target = path_of(service, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{target.relative_to(MODELS_DIR.parent.parent)}: {len(model['shapes'])} shapes")
    endpoints = MODELS_DIR / "endpoints.json"
    endpoints.write_text(json.dumps(reduced_endpoints(tuple(OPERATIONS)), indent=1, sort_keys=True) + "\n")
    print(f"{endpoints.relative_to(MODELS_DIR.parent.parent)}: {', '.join(OPERATIONS)} in every partition")
    return 0


if __name__ == "__main__":
    sys.exit(main())
