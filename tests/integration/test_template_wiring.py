"""template.yaml translated offline by aws-sam-translator, checked against the code it deploys.

Generic over every AWS::Serverless::Function: its handler imports from its CodeUri folder alone,
every environment variable its code reads is set by the template and resolves to a template
resource, parameter or literal. Plus the OI wiring: the ScheduleV2 schedule and the on-success
destination from OiSnapshotFunction to OiEvaluateFunction.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from samtranslator.translator.transform import transform

from cryptoalerts import config
from infra.local import template as tpl

REPO_ROOT = tpl.REPO_ROOT
# Read by the code but deliberately not set by the template (architecture.md §2.2): boto3's emulator
# endpoint and the local stand-ins for the Telegram secrets.
LOCAL_ONLY = {
    "AWS_ENDPOINT_URL",
    config.TELEGRAM_BOT_TOKEN,
    config.TELEGRAM_CHAT_ID,
    config.TELEGRAM_WEBHOOK_SECRET,
}
# Set by the Lambda runtime itself.
RUNTIME = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT"}


class NoIam:
    """Managed-policy loader that never calls IAM: the template names managed policies by ARN only."""

    def load(self) -> dict[str, str]:
        return {}


def raw() -> dict[str, Any]:
    return tpl.default()


def function_ids() -> list[str]:
    return sorted(tpl.resources(raw(), "AWS::Serverless::Function"))


@cache
def translated() -> dict[str, Any]:
    template = copy.deepcopy(raw())
    for logical in function_ids():
        # `sam package` would upload the folder and write its S3 URI here; the translator insists on one.
        template["Resources"][logical]["Properties"]["CodeUri"] = f"s3://bucket/{logical}.zip"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        return transform(template, {}, NoIam())  # type: ignore[arg-type]


def props(logical: str) -> dict[str, Any]:
    return raw()["Resources"][logical]["Properties"]


def code_dir(logical: str) -> Path:
    return REPO_ROOT / props(logical)["CodeUri"]


def handler_file(logical: str) -> tuple[str, str, Path]:
    module, func = props(logical)["Handler"].rsplit(".", 1)
    return module, func, code_dir(logical) / (module.replace(".", "/") + ".py")


def require_handler(logical: str) -> tuple[str, str, Path]:
    module, func, path = handler_file(logical)
    if not path.is_file():
        pytest.skip(f"{logical}: {path.relative_to(REPO_ROOT)} is not written yet")
    return module, func, path


def environment(logical: str) -> dict[str, Any]:
    """The function's variables after translation (Globals merged in), as CloudFormation sees them."""
    resource = translated()["Resources"][logical]
    assert resource["Type"] == "AWS::Lambda::Function"
    return dict(resource["Properties"].get("Environment", {}).get("Variables", {}))


# ---------------------------------------------------------------- which variables the code reads
CONFIG_NAMES = {name for name in dir(config) if name.isupper() and isinstance(getattr(config, name), str)}


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root / dotted.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(root: Path, path: Path, tree: ast.AST) -> set[Path]:
    """Files under `root` this module imports, with the packages that import runs."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            file = _module_file(root, ".".join(parts[:i]))
            if file is not None:
                found.add(file)
    return found


def _reads(tree: ast.AST) -> set[str]:
    """Environment variables a module reads: `config.NAME` constants, `from cryptoalerts.config import
    NAME`, and literal names given to os.environ[...] / os.environ.get / os.getenv."""
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "cryptoalerts.config"
        for alias in node.names
    }
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "config":
            if node.attr in CONFIG_NAMES:
                reads.add(getattr(config, node.attr))
        elif isinstance(node, ast.Name) and node.id in imported and node.id in CONFIG_NAMES:
            reads.add(getattr(config, node.id))
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                reads.add(node.slice.value)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            getenv = isinstance(func, ast.Attribute) and func.attr == "getenv"
            environ_get = isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)
            if (getenv or environ_get) and isinstance(node.args[0].value, str):
                reads.add(node.args[0].value)
    return reads


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def variables_read(logical: str) -> dict[str, set[str]]:
    """Variable -> the modules (relative paths) of the function's code that read it."""
    root = code_dir(logical)
    _, _, start = handler_file(logical)
    todo, seen = [start], set()
    reads: dict[str, set[str]] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo.extend(_imports(root, path, tree) - seen)
        if path.name == "config.py" and path.parent.name == "cryptoalerts":
            continue  # declares the names (and reads them generically); not a reader of any one
        for name in _reads(tree):
            reads.setdefault(name, set()).add(str(path.relative_to(root)))
    return reads


# ---------------------------------------------------------------- tests
def test_the_template_translates_offline_into_one_lambda_function_per_serverless_function() -> None:
    resources = translated()["Resources"]
    assert function_ids() and {"OiSnapshotFunction", "OiEvaluateFunction", "DispatcherFunction"} <= set(function_ids())
    for logical in function_ids():
        assert resources[logical]["Type"] == "AWS::Lambda::Function"
        assert resources[logical]["Properties"]["Runtime"] == "python3.13"
        assert resources[logical]["Properties"]["Architectures"] == ["arm64"]


@pytest.mark.parametrize("logical", function_ids())
def test_the_handler_imports_from_its_code_uri_alone(logical: str) -> None:
    module, func, _ = require_handler(logical)
    root = code_dir(logical)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **{name: _placeholder(value) for name, value in environment(logical).items()},
    }
    script = f"""
import importlib, json, sys
sys.path.insert(0, {str(root)!r})
mod = importlib.import_module({module!r})
ours = sorted(m.__file__ for m in list(sys.modules.values())
              if getattr(m, "__file__", None) and m.__file__.startswith({str(REPO_ROOT)!r})
              and "/.venv/" not in m.__file__)
print(json.dumps({{"callable": callable(getattr(mod, {func!r}, None)), "files": ours}}))
"""
    # -I: no PYTHONPATH, no user site, no current directory; only CodeUri and .venv's packages.
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["callable"], f"{props(logical)['Handler']} is not a callable"
    outside = [f for f in report["files"] if not Path(f).is_relative_to(root)]
    assert not outside, f"{logical} imports code from outside its CodeUri {root}: {outside}"


@pytest.mark.parametrize("logical", function_ids())
def test_every_variable_the_code_reads_is_set_by_the_template(logical: str) -> None:
    require_handler(logical)
    reads = variables_read(logical)
    assert reads, "the scan found no variable at all: it is not looking where the code reads them"
    set_by_template = set(environment(logical))
    allowed = set_by_template | LOCAL_ONLY | RUNTIME
    missing = {name: sorted(where) for name, where in reads.items() if name not in allowed}
    assert not missing, f"{logical} reads variables its template entry does not set: {missing}"


@pytest.mark.parametrize("logical", function_ids())
def test_every_variable_resolves_to_a_template_resource_parameter_or_literal(logical: str) -> None:
    known = set(translated()["Resources"]) | set(raw().get("Parameters", {}))
    for name, value in environment(logical).items():
        assert _resolves(value, known), f"{logical}.{name} = {value!r} does not resolve within the template"


def test_the_oi_functions_read_what_they_need() -> None:
    # Guards the scan itself: the variables these handlers are known to read must be found.
    assert {"OI_TABLE", "THRESHOLDS_PARAMETER", "BINANCE_FUTURES_REST_URL", "BYBIT_REST_URL", "OKX_REST_URL"} <= set(
        variables_read("OiSnapshotFunction")
    )
    assert {"OI_TABLE", "STATE_TABLE", "ALERT_QUEUE_URL", "THRESHOLDS_PARAMETER"} <= set(
        variables_read("OiEvaluateFunction")
    )
    env = environment("OiEvaluateFunction")
    assert env["OI_TABLE"] == {"Ref": "OiSnapshotTable"} and env["STATE_TABLE"] == {"Ref": "StateTable"}
    assert env["ALERT_QUEUE_URL"] == {"Ref": "AlertQueue"} and env["THRESHOLDS_PARAMETER"] == {
        "Ref": "ThresholdsParameter"
    }


def test_url_variables_in_the_template_equal_the_code_defaults() -> None:
    checked = 0
    for logical in function_ids():
        for name, value in environment(logical).items():
            if name in config.DEFAULTS:
                assert value == config.DEFAULTS[name], f"{logical}.{name}"
                checked += 1
    assert checked >= 3  # the three exchange URLs at least


def test_the_snapshot_runs_every_minute_on_schedulev2_with_the_scheduled_time_as_input() -> None:
    (event,) = props("OiSnapshotFunction")["Events"].values()
    assert event["Type"] == "ScheduleV2" and event["Properties"]["OmitName"] is True
    schedules = [
        r
        for r in translated()["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
        and r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["OiSnapshotFunction", "Arn"]}
    ]
    assert len(schedules) == 1
    schedule = schedules[0]["Properties"]
    assert "Name" not in schedule  # OmitName: CloudFormation names it, so stages never collide
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert json.loads(schedule["Target"]["Input"]) == {"time": "<aws.scheduler.scheduled-time>"}


def test_the_snapshot_hands_minute_m_to_the_evaluator_on_success() -> None:
    resources = translated()["Resources"]
    configs = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": "OiSnapshotFunction"}
    ]
    assert len(configs) == 1
    assert configs[0]["DestinationConfig"]["OnSuccess"]["Destination"] == {"Fn::GetAtt": ["OiEvaluateFunction", "Arn"]}
    role = resources["OiSnapshotFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert any(
        "lambda:InvokeFunction" in _list(s["Action"]) and s["Resource"] == {"Fn::GetAtt": ["OiEvaluateFunction", "Arn"]}
        for s in statements
    ), "the snapshot's role may not invoke the evaluator"


# ---------------------------------------------------------------- helpers
def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resolves(value: Any, known: set[str]) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return arg in known or str(arg).startswith("AWS::")
        if fn == "Fn::GetAtt":
            logical = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            return logical in known
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            names = {part.split("}")[0].split(".")[0] for part in text.split("${")[1:]}
            return all(n in known or n in extra or n.startswith("AWS::") for n in names) and all(
                _resolves(v, known) for v in extra.values()
            )
        if fn in ("Fn::Join", "Fn::Select", "Fn::If"):
            return all(_resolves(v, known) for v in _list(arg) if not isinstance(v, str))
    if isinstance(value, list):
        return all(_resolves(v, known) for v in value)
    return False


def _placeholder(value: Any) -> str:
    """A stand-in for a resolved value: the import must not need real resources."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if "Queue" in name:
            return f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
        return f"/crypto-alerts/test/{name}" if "Parameter" in name else f"crypto-alerts-test-{name}"
    return "placeholder"
