"""The listener's reduced botocore data is AWS's own, cut down, and still resolves real endpoints."""

from __future__ import annotations

import json
import subprocess
import sys

from listener import sdk_models


def test_committed_models_match_the_installed_botocore() -> None:
    for service, operations in sdk_models.OPERATIONS.items():
        version, expected = sdk_models.reduced(service, operations)
        committed = json.loads(sdk_models.path_of(service, version).read_text(encoding="utf-8"))
        assert committed == expected, f"regenerate with: python -m listener.sdk_models ({service})"
        assert sorted(committed["operations"]) == sorted(operations)
    endpoints = json.loads((sdk_models.MODELS_DIR / "endpoints.json").read_text(encoding="utf-8"))
    assert endpoints == sdk_models.reduced_endpoints(tuple(sdk_models.OPERATIONS))


def test_clients_built_on_them_reach_the_real_regional_endpoints() -> None:
    # A fresh interpreter: AWS_DATA_PATH is read when botocore creates its loader.
    script = """
import json
from listener import sdk_models
sdk_models.use()
import boto3
session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y")
out = {}
for service, region in (("sqs", "eu-west-1"), ("ssm", "eu-west-1"), ("sqs", "cn-north-1"), ("ssm", "us-gov-west-1")):
    client = session.client(service, region_name=region)
    out[f"{service}@{region}"] = client.meta.endpoint_url
out["operations"] = {s: session.client(s, region_name="us-east-1").meta.service_model.operation_names
                     for s in ("sqs", "ssm")}
print(json.dumps(out))
"""
    env = {"PATH": "/usr/bin:/bin", "AWS_ENDPOINT_URL": "", "AWS_CONFIG_FILE": "/dev/null"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    got = json.loads(done.stdout)
    assert got["sqs@eu-west-1"] == "https://sqs.eu-west-1.amazonaws.com"
    assert got["ssm@eu-west-1"] == "https://ssm.eu-west-1.amazonaws.com"
    assert got["sqs@cn-north-1"] == "https://sqs.cn-north-1.amazonaws.com.cn"
    assert got["ssm@us-gov-west-1"] == "https://ssm.us-gov-west-1.amazonaws.com"
    assert got["operations"] == {"sqs": ["SendMessageBatch"], "ssm": ["GetParameter"]}  # the reduced models
