"""Creates template.yaml's stateful resources in an AWS emulator (moto server) and resolves the
environment the template gives each function, so local runs and tests use the template's own
definitions: tables with their keys and TTL, queues with their redrive, the thresholds parameter.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from infra.local import template as tpl
from infra.repo import REPO_ROOT

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account

_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Stack:
    """What `deploy` created: each resource's Ref value and attributes, as CloudFormation would give."""

    template: dict[str, Any]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, Fn::GetAtt and Fn::Sub against this stack."""
        if isinstance(value, dict) and len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref":
                return self._ref(arg)
            if name == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attributes[(logical, attr)]
            if name == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                extra = {k: self.resolve(v) for k, v in extra.items()}
                return _SUB_VAR.sub(lambda m: str(extra.get(m.group(1)) or self._sub_var(m.group(1))), text)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _sub_var(self, name: str) -> str:
        if "." in name:
            logical, attr = name.split(".", 1)
            return self.attributes[(logical, attr)]
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.parameters["Stage"],
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.refs[name]

    def function(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id]["Properties"]

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals' variables merged with the function's own, resolved against this stack."""
        glob = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        own = self.function(logical_id).get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in {**glob, **own}.items()}

    def container_environment(self, logical_id: str) -> dict[str, str]:
        """The environment an ECS task definition gives its containers, resolved against this stack."""
        env: dict[str, str] = {}
        for container in self.template["Resources"][logical_id]["Properties"].get("ContainerDefinitions", []):
            for pair in container.get("Environment", []):
                # A value naming a resource the emulator does not hold (an image, a log group) is left out.
                with contextlib.suppress(KeyError):
                    env[pair["Name"]] = str(self.resolve(pair["Value"]))
        return env

    def code_dir(self, logical_id: str) -> Path:
        return REPO_ROOT / self.function(logical_id)["CodeUri"]


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}


def deploy(
    endpoint_url: str,
    stage: str = "local",
    overrides: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> Stack:
    """Create the template's tables, queues and SSM parameters in the emulator at `endpoint_url`.

    Idempotent: a resource that already exists is reused (the local stack can be restarted).
    """
    template = template or tpl.default()
    params = {**parameter_defaults(template), "Stage": stage, **(overrides or {})}
    stack = Stack(template=template, parameters=params)
    session = boto3.session.Session(region_name=REGION)
    ddb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    ssm = session.client("ssm", endpoint_url=endpoint_url)

    for logical, res in tpl.resources(template, "AWS::DynamoDB::Table").items():
        _create_table(ddb, stack, logical, res["Properties"])
    queues = tpl.resources(template, "AWS::SQS::Queue")
    for logical in queues:  # create all first: a redrive policy names another queue's ARN
        name = f"crypto-alerts-{stage}-{logical}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        stack.refs[logical] = url
        stack.attributes[(logical, "QueueUrl")] = url
        stack.attributes[(logical, "QueueName")] = name
        stack.attributes[(logical, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    for logical, res in queues.items():
        attrs = _queue_attributes(stack.resolve(res.get("Properties", {})))
        if attrs:
            sqs.set_queue_attributes(QueueUrl=stack.refs[logical], Attributes=attrs)
    for logical, res in tpl.resources(template, "AWS::SSM::Parameter").items():
        props = stack.resolve(res["Properties"])
        if not _parameter_exists(ssm, props["Name"]):
            ssm.put_parameter(Name=props["Name"], Value=props["Value"], Type=props["Type"])
        stack.refs[logical] = props["Name"]
    return stack


def _create_table(ddb: Any, stack: Stack, logical: str, props: dict[str, Any]) -> None:
    name = f"crypto-alerts-{stack.parameters['Stage']}-{logical}"
    stack.refs[logical] = name
    stack.attributes[(logical, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    try:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
    except ddb.exceptions.ResourceInUseException:
        return
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )


def _queue_attributes(props: dict[str, Any]) -> dict[Any, str]:
    attrs: dict[Any, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if key in props:
            attrs[key] = str(props[key])
    if "RedrivePolicy" in props:
        attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    return attrs


def _parameter_exists(ssm: Any, name: str) -> bool:
    try:
        ssm.get_parameter(Name=name)
    except ssm.exceptions.ParameterNotFound:
        return False
    return True
