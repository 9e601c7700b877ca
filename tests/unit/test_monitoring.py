"""The dashboard and alarms in template.yaml watch metrics the code really emits.

CloudWatch finds a metric only by its exact namespace, name and full dimension set, and shows an
empty graph (or an alarm stuck on missing data) for anything else, silently. So every custom metric
the template names is checked against the code: the name is a constant of cryptoalerts/metrics.py,
a module that emits metrics uses that constant, the module runs under the `service` named (the
dimension Powertools adds from POWERTOOLS_SERVICE_NAME) and adds the other dimensions named.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cryptoalerts import alert, exchanges
from cryptoalerts import metrics as metric_names
from infra.local import template as tpl

REPO = tpl.REPO_ROOT
TEMPLATE = tpl.default()
RESOURCES = TEMPLATE["Resources"]
CODE_ROOTS = (REPO / "functions", REPO / "listener")
EMIT_CALLS = {"add_metric", "single_metric"}
DEFINED = {v: k for k, v in vars(metric_names).items() if k.isupper() and isinstance(v, str) and k != "NAMESPACE"}
LISTENER_SERVICE = "listener"  # the listener is no Lambda: its service name is in its own code


# ---------------------------------------------------------------- what the template watches
@dataclass(frozen=True)
class Spec:
    where: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    @property
    def dims(self) -> dict[str, str]:
        return dict(self.dimensions)


_SUB_VAR = re.compile(r"\$\{([^}]+)\}")
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "crypto-alerts-dev",
    "AWS::URLSuffix": "amazonaws.com",
}


def _sub_value(name: str) -> str:
    """A dummy value for a !Sub variable, after checking it names something that exists."""
    if name in PSEUDO:
        return PSEUDO[name]
    if name in TEMPLATE["Parameters"]:
        return f"param-{name}"
    logical, _, attr = name.partition(".")
    assert logical in RESOURCES, f"!Sub names ${{{name}}}, which is not a resource, parameter or pseudo parameter"
    return f"{logical}-{attr}" if attr else f"ref-{logical}"


def dashboard_body() -> dict[str, Any]:
    sub = RESOURCES["MonitoringDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(sub, str)
    return json.loads(_SUB_VAR.sub(lambda m: _sub_value(m.group(1)), sub))


def _resolve(value: Any) -> str:
    """A dimension value in an alarm: a literal, or a Ref/GetAtt written as `ref-X` / `X-Attr`."""
    if isinstance(value, dict) and "Ref" in value:
        return _sub_value(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return _sub_value(".".join(value["Fn::GetAtt"]))
    assert isinstance(value, str), value
    return value


def dashboard_specs() -> list[Spec]:
    specs = []
    for n, widget in enumerate(dashboard_body()["widgets"]):
        if widget["type"] != "metric":
            continue
        previous: list[Any] = []
        for row in widget["properties"]["metrics"]:
            plain = [x for x in row if not isinstance(x, dict)]
            if not plain:  # a metric-math expression row
                continue
            # "." repeats the previous row's entry at that position (CloudWatch's shorthand).
            plain = [previous[i] if x == "." else x for i, x in enumerate(plain)]
            previous = plain
            namespace, name, *dims = plain
            assert len(dims) % 2 == 0, f"widget {n}: dimension without a value in {row}"
            pairs = tuple(sorted(zip(dims[::2], dims[1::2], strict=True)))
            specs.append(Spec(f"dashboard widget {widget['properties'].get('title', n)!r}", namespace, name, pairs))
    return specs


def alarms() -> dict[str, dict[str, Any]]:
    return tpl.resources(TEMPLATE, "AWS::CloudWatch::Alarm")


def alarm_specs() -> list[Spec]:
    specs = []
    for logical, res in alarms().items():
        props = res["Properties"]
        metrics = (
            [
                {
                    "Namespace": props["Namespace"],
                    "MetricName": props["MetricName"],
                    "Dimensions": props.get("Dimensions", []),
                }
            ]
            if "MetricName" in props
            else [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
        )
        for metric in metrics:
            pairs = tuple(sorted((d["Name"], _resolve(d["Value"])) for d in metric.get("Dimensions", [])))
            specs.append(Spec(f"alarm {logical}", metric["Namespace"], metric["MetricName"], pairs))
    return specs


ALL_SPECS = dashboard_specs() + alarm_specs()
CUSTOM_SPECS = [s for s in ALL_SPECS if s.namespace == metric_names.NAMESPACE]


# ---------------------------------------------------------------- what the code emits
@dataclass
class Module:
    path: Path
    emits: bool = False
    metrics: set[str] = field(default_factory=set)  # metric names (values) the module refers to
    dimensions: set[str] = field(default_factory=set)
    imports: set[str] = field(default_factory=set)  # cryptoalerts modules it imports
    services: set[str] = field(default_factory=set)


def _python_files() -> Iterator[Path]:
    for root in CODE_ROOTS:
        if root.is_dir():
            yield from sorted(root.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO / "functions") if path.is_relative_to(REPO / "functions") else path.relative_to(REPO)
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def scan(path: Path) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = Module(path)
    constant_names: dict[str, str] = {}  # local name -> metric name, from `from cryptoalerts.metrics import X`
    metrics_aliases: set[str] = set()  # names bound to the cryptoalerts.metrics module
    strings: dict[str, str] = {}  # module-level NAME = "text", to resolve dimension names given by constant
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "cryptoalerts.metrics":
                for a in node.names:
                    if a.name in vars(metric_names):
                        constant_names[a.asname or a.name] = getattr(metric_names, a.name)
            if node.module == "cryptoalerts":
                for a in node.names:
                    module.imports.add(f"cryptoalerts.{a.name}")
                    if a.name == "metrics":
                        metrics_aliases.add(a.asname or a.name)
            elif node.module.startswith("cryptoalerts"):
                module.imports.add(node.module)
        elif isinstance(node, ast.Import):
            module.imports.update(a.name for a in node.names if a.name.startswith("cryptoalerts"))
        elif (
            isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    strings[target.id] = node.value.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in constant_names:
            module.metrics.add(constant_names[node.id])
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in metrics_aliases
            and node.attr in vars(metric_names)
        ):
            module.metrics.add(getattr(metric_names, node.attr))
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name in EMIT_CALLS:
                module.emits = True
            if name == "add_dimension":
                arg = next((k.value for k in node.keywords if k.arg == "name"), node.args[0] if node.args else None)
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    module.dimensions.add(arg.value)
                elif isinstance(arg, ast.Name) and arg.id in strings:
                    module.dimensions.add(strings[arg.id])
                elif isinstance(arg, ast.Name):
                    module.dimensions |= _passed_as(tree, node, arg.id)
            for k in node.keywords:  # default_dimensions={"exchange": ...} / set_default_dimensions(exchange=...)
                if k.arg == "default_dimensions" and isinstance(k.value, ast.Dict):
                    module.dimensions.update(
                        key.value
                        for key in k.value.keys
                        if isinstance(key, ast.Constant) and isinstance(key.value, str)
                    )
                elif name == "set_default_dimensions" and k.arg:
                    module.dimensions.add(k.arg)
    return module


def _passed_as(tree: ast.Module, call: ast.Call, parameter: str) -> set[str]:
    """String literals the module passes as `parameter` to the function whose body holds `call`,
    e.g. `_count(ALERTS, "status", s)` for `def _count(name, dimension, value): ...add_dimension(name=dimension)`."""
    found: set[str] = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef) or call not in ast.walk(func):
            continue
        params = [a.arg for a in func.args.args]
        if parameter not in params:
            continue
        index = params.index(parameter)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) == func.name:
                arg = next(
                    (k.value for k in node.keywords if k.arg == parameter),
                    node.args[index] if len(node.args) > index else None,
                )
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def _function_services() -> dict[str, str]:
    """Handler package (e.g. `oi_snapshot`) -> the POWERTOOLS_SERVICE_NAME the template gives it."""
    services = {}
    for logical, res in tpl.resources(TEMPLATE, "AWS::Serverless::Function").items():
        props = res["Properties"]
        service = props.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        assert service, f"{logical} has no POWERTOOLS_SERVICE_NAME: its metrics would lack the `service` dimension"
        services[props["Handler"].split(".")[0]] = service
    return services


def emitting_modules() -> dict[str, Module]:
    modules = {_module_name(p): scan(p) for p in _python_files()}
    roots = {pkg: {service} for pkg, service in _function_services().items()}
    roots["listener"] = {LISTENER_SERVICE}
    # A shared cryptoalerts module runs under the service of every entry point that imports it.
    for name in modules:
        root = name.split(".")[0]
        if root in roots:
            seen, todo = set(), [name]
            while todo:
                current = todo.pop()
                if current in seen or current not in modules:
                    continue
                seen.add(current)
                modules[current].services |= roots[root]
                todo.extend(modules[current].imports)
    return {name: m for name, m in modules.items() if m.emits}


EMITTERS = emitting_modules()


def emitted_by(spec: Spec) -> list[str]:
    """The modules that can emit `spec` exactly: its name, under its service, with its dimensions."""
    extra = set(spec.dims) - {"service"}
    return [
        name
        for name, m in EMITTERS.items()
        if spec.name in m.metrics and spec.dims.get("service") in m.services and extra <= m.dimensions
    ]


# ---------------------------------------------------------------- the checks
def test_the_dashboard_body_is_json_after_substitution() -> None:
    body = dashboard_body()
    assert body["widgets"], "an empty dashboard"
    assert all(w["type"] in {"metric", "alarm", "text"} for w in body["widgets"])


@pytest.mark.parametrize("spec", CUSTOM_SPECS, ids=lambda s: f"{s.where}:{s.name}:{dict(s.dimensions)}")
def test_each_custom_metric_watched_is_defined_and_emitted_with_these_dimensions(spec: Spec) -> None:
    assert spec.name in DEFINED, f"{spec.where}: {spec.name} is not a name in cryptoalerts/metrics.py"
    assert "service" in spec.dims, (
        f"{spec.where}: {spec.name} lacks the `service` dimension Powertools adds, so CloudWatch would not find it"
    )
    assert emitted_by(spec), (
        f"{spec.where}: no module emits {spec.name} under service {spec.dims['service']!r} "
        f"with dimensions {sorted(spec.dims)}"
    )


def test_aws_metrics_watched_name_the_template_own_functions_and_queues() -> None:
    functions = set(tpl.resources(TEMPLATE, "AWS::Serverless::Function"))
    queues = set(tpl.resources(TEMPLATE, "AWS::SQS::Queue"))
    for spec in ALL_SPECS:
        if spec.namespace == "AWS/Lambda":
            assert spec.dims["FunctionName"].removeprefix("ref-") in functions, spec
        elif spec.namespace == "AWS/SQS":
            assert spec.dims["QueueName"].removesuffix("-QueueName") in queues, spec
        else:
            assert spec.namespace == metric_names.NAMESPACE, spec


def test_every_metric_the_code_defines_is_on_the_dashboard() -> None:
    shown = {s.name for s in dashboard_specs()}
    assert set(DEFINED) - shown == set()


def test_alerts_are_shown_by_every_kind_and_every_status() -> None:
    from dispatcher.history import Status  # the statuses the dispatcher records

    specs = dashboard_specs()
    kinds = {s.dims.get("kind") for s in specs if s.name == metric_names.ALERTS_PRODUCED}
    statuses = {s.dims.get("status") for s in specs if s.name == metric_names.ALERTS}
    assert kinds == set(alert.KINDS)
    assert statuses >= set(Status.__args__)


def test_the_alarm_widget_shows_every_alarm() -> None:
    [widget] = [w for w in dashboard_body()["widgets"] if w["type"] == "alarm"]
    assert sorted(widget["properties"]["alarms"]) == sorted(f"{logical}-Arn" for logical in alarms())


def test_oi_snapshots_are_shown_and_alarmed_per_exchange() -> None:
    names = {a.name for a in exchanges.ADAPTERS}
    for metric in (metric_names.OI_SNAPSHOT_OK, metric_names.OI_SNAPSHOT_FAILED):
        assert {s.dims.get("exchange") for s in dashboard_specs() if s.name == metric} == names
    failing = {
        s.dims["exchange"]: s.where.removeprefix("alarm ")
        for s in alarm_specs()
        if s.name == metric_names.OI_SNAPSHOT_FAILED
    }
    assert set(failing) == names
    for logical in failing.values():
        props = alarms()[logical]["Properties"]
        # "failing for N minutes": N one-minute periods, all of them breaching.
        assert props["Period"] == 60
        assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "ExchangeFailureMinutes"}


def _alarm_on(metric: str) -> dict[str, Any]:
    [logical] = {s.where.removeprefix("alarm ") for s in alarm_specs() if s.name == metric}
    return alarms()[logical]["Properties"]


def test_listener_alarms_treat_missing_data_as_breaching() -> None:
    silent = _alarm_on(metric_names.SECONDS_SINCE_LAST_FRAME)
    assert silent["TreatMissingData"] == "breaching"
    assert silent["ComparisonOperator"] == "GreaterThanThreshold"
    disconnected = _alarm_on(metric_names.LISTENER_CONNECTED)
    assert disconnected["TreatMissingData"] == "breaching"
    assert (disconnected["ComparisonOperator"], disconnected["Threshold"]) == ("LessThanThreshold", 1)


def test_required_alarms_exist_and_notify_the_ops_topic() -> None:
    specs = alarm_specs()
    watched = {(s.namespace, s.name) for s in specs}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    dlq = next(s for s in specs if s.name == "ApproximateNumberOfMessagesVisible")
    assert dlq.dims["QueueName"] == "AlertDeadLetterQueue-QueueName"
    assert any(s.name == "Errors" and s.dims["FunctionName"] == "ref-DispatcherFunction" for s in specs)
    invalid = {s.dims["service"] for s in specs if s.name == metric_names.INVALID_THRESHOLDS}
    assert invalid == {*_function_services().values(), LISTENER_SERVICE}
    for logical, res in alarms().items():
        props = res["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}], logical
        assert props["AlarmName"]["Fn::Sub"].startswith("crypto-alerts-${Stage}-"), logical


def test_alarm_math_only_uses_its_own_metric_ids() -> None:
    for logical, res in alarms().items():
        queries = res["Properties"].get("Metrics")
        if not queries:
            continue
        ids = {q["Id"] for q in queries if "MetricStat" in q}
        [expression] = [q["Expression"] for q in queries if "Expression" in q]
        used = set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b", expression)) - {"FILL"}
        assert used == ids, logical
        assert [q.get("ReturnData", True) for q in queries].count(True) == 1, logical


def test_the_email_subscription_exists_only_when_an_address_is_given() -> None:
    sub = RESOURCES["OpsTopicEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_listener_service_name_is_the_one_its_code_its_task_and_the_cli_use() -> None:
    from infra.cli.status import LISTENER_METRIC_SERVICE
    from listener.log import SERVICE

    [container] = RESOURCES["ListenerTaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert SERVICE == env["POWERTOOLS_SERVICE_NAME"] == LISTENER_SERVICE == LISTENER_METRIC_SERVICE
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == metric_names.NAMESPACE


def test_powertools_adds_the_service_dimension_the_specs_rely_on(capsys, monkeypatch) -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "oi-snapshot")
    with single_metric(
        name=metric_names.OI_SNAPSHOT_OK, unit=MetricUnit.Count, value=1, namespace=metric_names.NAMESPACE
    ) as one:
        one.add_dimension(name="exchange", value="okx")
    metrics = Metrics(namespace=metric_names.NAMESPACE)
    metrics.add_metric(name=metric_names.OI_EVALUATIONS, unit=MetricUnit.Count, value=3)
    metrics.flush_metrics()
    emitted = [json.loads(line)["_aws"]["CloudWatchMetrics"][0] for line in capsys.readouterr().out.splitlines()]
    assert [sorted(e["Dimensions"][0]) for e in emitted] == [["exchange", "service"], ["service"]]
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "oi-snapshot"


def test_each_liquidation_feed_has_an_alarm_naming_it_after_10_minutes_down() -> None:
    from cryptoalerts.feeds import LIQUIDATION_FEEDS
    from cryptoalerts.telegram_format import EXCHANGE_NAMES

    down = {
        s.dims["exchange"]: s.where.removeprefix("alarm ") for s in alarm_specs() if s.name == metric_names.FEED_DOWN
    }
    assert set(down) == set(LIQUIDATION_FEEDS)
    for exchange, logical in down.items():
        props = alarms()[logical]["Properties"]
        # The operator reads the exchange's own name, written as everywhere else (OKX, not Okx).
        assert exchange in props["AlarmName"]["Fn::Sub"]
        assert props["AlarmDescription"].startswith(f"The {EXCHANGE_NAMES[exchange]} liquidation feed ")
        assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (60, 10, 10)
        assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == (
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            1,
        )
    shown = {s.dims.get("exchange") for s in dashboard_specs() if s.name == metric_names.FRAMES}
    assert set(LIQUIDATION_FEEDS) <= shown
