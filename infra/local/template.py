"""Reads template.yaml, so local runs and tests use the template's own definitions and wiring."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.repo import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"

_SCALAR_TAGS = {"!Ref": "Ref", "!Condition": "Condition"}
_LIST_TAGS = {
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!GetAZs": "Fn::GetAZs",
    "!Base64": "Fn::Base64",
    "!ImportValue": "Fn::ImportValue",
    "!Cidr": "Fn::Cidr",
    "!ToJsonString": "Fn::ToJsonString",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags into their long form."""


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = "!" + tag_suffix
    name = _SCALAR_TAGS.get(tag) or _LIST_TAGS.get(tag)
    if name is None:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag {tag}", node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct)


def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)


@cache
def default() -> dict[str, Any]:
    """template.yaml, parsed once per process."""
    return load()


def resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}
