"""template.yaml's listener resources: Fargate ARM64, health check, stop timeout, least privilege."""

from __future__ import annotations

from typing import Any

import pytest

from cryptoalerts import config
from infra.local import template as tpl
from listener.settings import Settings


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return tpl.default()["Resources"]


def test_task_definition_is_fargate_arm64_quarter_vcpu_half_gb(resources) -> None:
    task = resources["ListenerTaskDefinition"]
    assert task["Type"] == "AWS::ECS::TaskDefinition"
    props = task["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert (props["Cpu"], props["Memory"]) == ("256", "512")
    assert props["NetworkMode"] == "awsvpc"


def test_container_health_stop_timeout_logs_and_environment(resources) -> None:
    (container,) = resources["ListenerTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "listener.healthcheck"]
    # The listener's own flush budget must end before ECS sends SIGKILL.
    assert Settings.flush_timeout_s < container["StopTimeout"] <= 120
    logs = container["LogConfiguration"]
    assert logs["LogDriver"] == "awslogs"
    assert logs["Options"]["awslogs-group"] == {"Ref": "ListenerLogGroup"}
    assert "RetentionInDays" in resources["ListenerLogGroup"]["Properties"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env[config.ALERT_QUEUE_URL] == {"Ref": "AlertQueue"}
    assert env[config.THRESHOLDS_PARAMETER] == {"Ref": "ThresholdsParameter"}
    assert env[config.BINANCE_FUTURES_WS_URL] == config.DEFAULTS[config.BINANCE_FUTURES_WS_URL]
    assert env[config.HEALTH_PORT] == config.DEFAULTS[config.HEALTH_PORT]
    for name in (config.BYBIT_WS_URL, config.OKX_WS_URL, config.BYBIT_REST_URL, config.OKX_REST_URL):
        assert env[name] == config.DEFAULTS[name], name
    assert container["Image"]["Fn::If"][1] == {"Ref": "ListenerImageUri"}


def test_service_runs_one_task_with_circuit_breaker_rollback(resources) -> None:
    props = resources["ListenerService"]["Properties"]
    assert props["LaunchType"] == "FARGATE"
    assert props["DesiredCount"] == {"Fn::If": ["HasListenerImage", 1, 0]}
    assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    egress = resources["ListenerSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    # HTTPS and Binance/Bybit WSS on 443; OKX's public WebSocket listens on 8443.
    assert [(r["FromPort"], r["ToPort"]) for r in egress] == [(443, 443), (8443, 8443)]
    assert "SecurityGroupIngress" not in resources["ListenerSecurityGroup"]["Properties"]


def test_task_role_may_only_send_alerts_and_read_the_thresholds(resources) -> None:
    (policy,) = resources["ListenerTaskRole"]["Properties"]["Policies"]
    grants = [(s["Action"], s["Resource"]) for s in policy["PolicyDocument"]["Statement"]]
    assert grants == [
        ("sqs:SendMessage", {"Fn::GetAtt": ["AlertQueue", "Arn"]}),
        (
            "ssm:GetParameter",
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
                ":parameter/crypto-alerts/${Stage}/thresholds"
            },
        ),
    ]
    assert all(s["Effect"] == "Allow" for s in policy["PolicyDocument"]["Statement"])


def test_image_parameter_and_repository(resources) -> None:
    template = tpl.default()
    assert template["Parameters"]["ListenerImageUri"]["Type"] == "String"
    assert resources["ListenerRepository"]["Type"] == "AWS::ECR::Repository"
    assert resources["ListenerCluster"]["Type"] == "AWS::ECS::Cluster"
    assert "ListenerRepositoryUri" in template["Outputs"]
