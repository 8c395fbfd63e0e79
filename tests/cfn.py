"""CloudFormation templates in tests: read (with the short tags), packaged by ``package-stack``,
resolved as CloudFormation would, and deployed into moto the way deploy.sh deploys them.

Used by tests/test_stack.py (static checks) and tests/test_stack_moto.py (moto).
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import yaml
from click.testing import CliRunner

from cli import main
from cli.stack import DISTRIBUTION_VARIABLE

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "stack"
TEMPLATES = sorted(STACK.glob("*.yaml"))
BIN = Path(sys.executable).parent


REGION = "eu-west-1"
REGION2 = "eu-central-1"
ACCOUNT = "123456789012"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref x`` → ``{"Ref": "x"}``)."""


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), _Loader)  # a SafeLoader subclass
    return data


def tiny_zip(path: Path, *modules: str) -> Path:
    """A stand-in Lambda zip, the same bytes for the same modules (the real zips are built and
    checked in tests/test_build_lambda.py)."""
    with zipfile.ZipFile(path, "w") as archive:
        for module in modules:
            info = zipfile.ZipInfo(module, date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, "def handler(event, context):\n    return event\n")
    return path


def package(out: Path, *options: str, edge_modules: tuple[str, ...] = ("edge/handler.py",)) -> dict[str, Any]:
    """``tachyon-edge package-stack`` into ``out`` with stand-in zips; its plan.json."""
    edge = tiny_zip(out.parent / f"{out.name}-edge.zip", *edge_modules)
    purge = tiny_zip(out.parent / f"{out.name}-purge.zip", "purger/handler.py")
    args = ["package-stack", "--bucket", "media-example", "--region", REGION, "--account", ACCOUNT,
            "--artefacts", "artefacts-eu", "--edge-artefacts", "artefacts-us", "--edge-zip", str(edge),
            "--purge-zip", str(purge), "-o", str(out), *options]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plan: dict[str, Any] = json.loads((out / "plan.json").read_text())
    return plan


def aws(endpoint: str, service: str, region: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def moto_cannot_create(resource_type: str) -> bool:
    """Whether moto's CloudFormation skips this type (it then breaks the stack's outputs)."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return resource_type not in get_model_map() and resource_type not in NULL_MODELS


def for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without the resources moto cannot create, each reference to one a placeholder
    string; and those resources (logical id → type). The real template is not changed: what these
    resources say is checked statically (test_distribution_as_written, test_scaling_as_written)."""
    resources = template["Resources"]
    removed = {name: r["Type"] for name, r in resources.items() if moto_cannot_create(r["Type"])}

    def placeholder(name: str, attribute: str = "") -> str:
        return f"moto-cannot-create-{name}{'-' + attribute if attribute else ''}"

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in removed:
                return placeholder(node["Ref"])
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in removed:
                return placeholder(*node["Fn::GetAtt"])
            if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
                text = node["Fn::Sub"]
                for name in removed:
                    text = text.replace("${" + name + "}", placeholder(name))
                return {"Fn::Sub": text}
            return {k: clean(v) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    kept = {}
    for name, resource in resources.items():
        if name in removed:
            continue
        cleaned = clean(resource)
        depends = cleaned.get("DependsOn")
        if depends is not None:
            depends = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in removed]
            if depends:
                cleaned["DependsOn"] = depends
            else:
                del cleaned["DependsOn"]
        kept[name] = cleaned
    variant = {**clean({k: v for k, v in template.items() if k != "Resources"}), "Resources": kept}
    return variant, removed


def resolve(
    template: dict[str, Any], parameters: dict[str, str], node: Any, attributes: dict[str, str]
) -> Any:
    """``node`` with its parameters, conditions and ``Fn::If`` resolved as CloudFormation would, and
    ``Fn::GetAtt`` from ``attributes`` ("Logical.Attribute" → value): for the properties moto's
    resources accept and ignore, applied by the tests through the service's own API instead."""
    values = {name: p.get("Default", "") for name, p in template["Parameters"].items()} | parameters

    def condition(name: str) -> bool:
        return bool(walk(template["Conditions"][name]))

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            return [v for v in (walk(i) for i in item) if v is not NO_VALUE]
        if not isinstance(item, dict):
            return item
        if set(item) == {"Ref"}:
            return NO_VALUE if item["Ref"] == "AWS::NoValue" else values[item["Ref"]]
        if set(item) == {"Condition"}:
            return condition(item["Condition"])
        if set(item) == {"Fn::Equals"}:
            left, right = walk(item["Fn::Equals"])
            return left == right
        if set(item) == {"Fn::Not"}:
            return not walk(item["Fn::Not"])[0]
        if set(item) == {"Fn::And"}:
            return all(walk(item["Fn::And"]))
        if set(item) == {"Fn::If"}:
            name, yes, no = item["Fn::If"]
            return walk(yes if condition(name) else no)
        if set(item) == {"Fn::GetAtt"}:
            return attributes[".".join(item["Fn::GetAtt"])]
        return {k: v for k, v in ((k, walk(v)) for k, v in item.items()) if v is not NO_VALUE}

    return walk(node)


NO_VALUE = object()


def apply(endpoint: str, folder: Path, plan: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What deploy.sh does, with boto3 against moto: uploads, then each stack; its outputs."""
    for upload in plan["uploads"]:
        s3 = aws(endpoint, "s3", upload["region"])
        where = {} if upload["region"] == "us-east-1" else {"LocationConstraint": upload["region"]}
        if upload["bucket"] not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(
                Bucket=upload["bucket"], **({"CreateBucketConfiguration": where} if where else {})
            )
        s3.upload_file(str(folder / upload["file"]), upload["bucket"], upload["key"])
    found: dict[str, dict[str, str]] = {}
    distribution = ""
    for stack in plan["stacks"]:
        cloudformation = aws(endpoint, "cloudformation", stack["region"])
        parameters = [
            {"ParameterKey": k, "ParameterValue": distribution if v == DISTRIBUTION_VARIABLE else v}
            for k, v in stack["parameters"].items()
        ]
        variant, _ = for_moto(load(folder / stack["template"]))
        cloudformation.create_stack(
            StackName=stack["name"], TemplateBody=json.dumps(variant),
            Parameters=parameters, Capabilities=["CAPABILITY_IAM"],
        )  # fmt: skip
        status = cloudformation.describe_stacks(StackName=stack["name"])["Stacks"][0]["StackStatus"]
        assert status == "CREATE_COMPLETE", status
        found[stack["name"]] = outputs(cloudformation, stack["name"])
        distribution = found[stack["name"]].get("DistributionId", distribution)
    return found


def stack_resources(deployed: dict[str, Any], index: int) -> dict[str, dict[str, Any]]:
    stack = deployed["plan"]["stacks"][index]
    cloudformation = aws(deployed["endpoint"], "cloudformation", stack["region"])
    listed = cloudformation.list_stack_resources(StackName=stack["name"])["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r for r in listed}


MOTO_CANNOT_CREATE = {
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::CloudFront::CachePolicy", "AWS::CloudFront::Distribution", "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl", "AWS::CloudFront::OriginRequestPolicy", "AWS::CloudWatch::Alarm",
    "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy",
}  # fmt: skip
