"""Where the operator CLI finds the deployment: resource names from flags, the environment, or the
CloudFormation stack's outputs, and boto3 clients that honour AWS_ENDPOINT_URL (the local stack).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cryptoalerts import config

# SSM names by stage; the template's own defaults for stage `dev` (a unit test keeps them in step).
THRESHOLDS_PARAMETER_NAME = "/crypto-alerts/{stage}/thresholds"
TOKEN_PARAMETER_NAME = "/crypto-alerts/{stage}/telegram/bot-token"
CHAT_ID_PARAMETER_NAME = "/crypto-alerts/{stage}/telegram/chat-id"
WEBHOOK_SECRET_PARAMETER_NAME = "/crypto-alerts/{stage}/telegram/webhook-secret"
DEFAULT_STAGE = "dev"
STACK_NAME = "crypto-alerts-{stage}"
# template.yaml Outputs the CLI reads when no flag or environment variable names a resource.
OUTPUT_HISTORY_TABLE = "AlertHistoryTableName"
OUTPUT_ALERT_QUEUE_URL = "AlertQueueUrl"
OUTPUT_COMMANDS_WEBHOOK_URL = "CommandsWebhookUrl"
# On the local stack (AWS_ENDPOINT_URL set) resources are named by stage and logical id.
LOCAL_RESOURCE_NAME = "crypto-alerts-{stage}-{logical_id}"


class CliError(Exception):
    """A problem the operator can fix: printed as one line, exit status 1, never a traceback."""


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        default=os.environ.get("STAGE") or DEFAULT_STAGE,
        help="deployment stage (default: $STAGE or %(default)s)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: boto3's, e.g. $AWS_REGION)")
    parser.add_argument(
        "--stack-name",
        default=None,
        help="CloudFormation stack to read resource names from (default: crypto-alerts-<stage>)",
    )


@dataclass
class Context:
    """Resource names and clients for one CLI invocation."""

    stage: str = DEFAULT_STAGE
    region: str | None = None
    stack_name: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        return cls(stage=args.stage, region=args.region, stack_name=args.stack_name)

    @property
    def local(self) -> bool:
        """True when boto3 talks to an emulator (the local stack) rather than AWS."""
        return bool(os.environ.get("AWS_ENDPOINT_URL"))

    def client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                # Any: the service name is a runtime string, not one of boto3-stubs' literals.
                session: Any = boto3.session.Session(region_name=self.region)
                self._clients[service] = session.client(service)
            except BotoCoreError as exc:
                raise CliError(f"cannot create an AWS {service} client: {exc}") from None
        return self._clients[service]

    def thresholds_parameter(self, flag: str | None = None) -> str:
        return flag or os.environ.get(config.THRESHOLDS_PARAMETER) or THRESHOLDS_PARAMETER_NAME.format(stage=self.stage)

    def history_table(self, flag: str | None = None) -> str:
        found = flag or os.environ.get(config.HISTORY_TABLE) or self._stack_outputs.get(OUTPUT_HISTORY_TABLE)
        if not found and self.local:
            found = self._local_name("AlertHistoryTable")
        return found or self._missing(OUTPUT_HISTORY_TABLE, config.HISTORY_TABLE)

    def alert_queue_url(self, flag: str | None = None) -> str:
        found = flag or os.environ.get(config.ALERT_QUEUE_URL) or self._stack_outputs.get(OUTPUT_ALERT_QUEUE_URL)
        if not found and self.local:
            sqs = self.client("sqs")
            try:
                found = sqs.get_queue_url(QueueName=self._local_name("AlertQueue"))["QueueUrl"]
            except (ClientError, BotoCoreError):
                found = None
        return found or self._missing(OUTPUT_ALERT_QUEUE_URL, config.ALERT_QUEUE_URL)

    def commands_webhook_url(self, flag: str | None = None) -> str:
        """CommandsFunction's Function URL: the flag, else the stack's output."""
        found = flag or self._stack_outputs.get(OUTPUT_COMMANDS_WEBHOOK_URL)
        if not found:
            raise CliError(
                f"give the URL with --url, or deploy stack {self.resolved_stack_name} "
                f"whose output {OUTPUT_COMMANDS_WEBHOOK_URL} names it"
            )
        return found

    def _local_name(self, logical_id: str) -> str:
        """The name the local stack gives a resource (infra.local.aws_resources.deploy; a test keeps them in step)."""
        return LOCAL_RESOURCE_NAME.format(stage=self.stage, logical_id=logical_id)

    @property
    def resolved_stack_name(self) -> str:
        return self.stack_name or STACK_NAME.format(stage=self.stage)

    def stack_resource(self, logical_id: str) -> str:
        """Physical id of one of the stack's resources (e.g. the listener's ECS service ARN)."""
        try:
            described = self.client("cloudformation").describe_stack_resource(
                StackName=self.resolved_stack_name, LogicalResourceId=logical_id
            )
        except (ClientError, BotoCoreError) as exc:
            raise CliError(f"cannot find {logical_id} in stack {self.resolved_stack_name}: {describe(exc)}") from None
        return str(described["StackResourceDetail"]["PhysicalResourceId"])

    def _missing(self, key: str, env_name: str) -> str:
        raise CliError(
            f"set {env_name} (or the matching flag), or deploy stack {self.resolved_stack_name} "
            f"whose output {key} names it"
        )

    @cached_property
    def _stack_outputs(self) -> dict[str, str]:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.resolved_stack_name)["Stacks"]
        except (ClientError, BotoCoreError):
            return {}
        outputs = stacks[0].get("Outputs", []) if stacks else []
        return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def describe(exc: BaseException) -> str:
    """An AWS error as one short line (code and message), without the request details."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__
