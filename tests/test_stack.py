"""The infrastructure as code, checked without an AWS account (docs/deploy.md, "What is checked").

- cfn-lint on every template, as written and as ``package-stack`` writes it;
- checkov (static security scan) on the templates and the Kubernetes manifest: no failed check
  (every skip carries its reason in the template); and, read here, no IAM action wildcard and
  no ``*`` resource but the one action that has no resource-level permission;
- the packaged templates deployed into moto's CloudFormation over HTTP, in the order and with
  the parameters of the ``plan.json`` that ``deploy.sh`` runs, and the resources moto creates
  read back with the properties the edge, the worker and the purge function read.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from cli.stack import DISTRIBUTION_VARIABLE
from core.jobs import DEAD_LETTER_SUFFIX, EVENTS_QUEUE, QUEUES, sqs_queue_name
from core.jobtable import KEY, TTL_ATTRIBUTE

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "stack"
TEMPLATES = sorted(STACK.glob("*.yaml"))
BIN = Path(sys.executable).parent
#: checkov cannot join requirements.lock (it pins packaging<24; the lock has a newer one that
#: pip, setuptools and uv need): it runs from a virtualenv of its own, at this version.
CHECKOV = "checkov==3.3.30"
#: Kubernetes' own schemas of every release, offline (108 MB: kept out of the test extra too).
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"
TOOLS = ROOT / ".venv-tools"
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


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stack") / "sqs"
    package(out, "--originals-prefix", "uploads/")
    return out


# ---------------------------------------------------------------- static checks


def test_cfn_lint_is_clean(packaged: Path) -> None:
    """No error and no warning in any template (each exception is explained where it is made)."""
    paths = [*TEMPLATES, packaged / "edge.yaml"]
    done = subprocess.run(
        [str(BIN / "cfn-lint"), *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def tool(requirement: str, command: str) -> Path:
    """``command`` of ``requirement`` (name==version) in a virtualenv of its own under
    .venv-tools/, made once with uv and remade when the pinned version changes."""
    name = requirement.partition("==")[0]
    venv = TOOLS / name
    binary = venv / "bin" / command
    stamp = venv / "requirement.txt"
    if binary.is_file() and stamp.is_file() and stamp.read_text() == requirement:
        return binary
    uv = str(BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--allow-existing", "-p", sys.executable, str(venv)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    subprocess.run([uv, "pip", "install", "-q", requirement], check=True, env=env)
    stamp.write_text(requirement)
    return binary


def checkov() -> Path:
    return tool(CHECKOV, "checkov")


def test_checkov_finds_no_failed_check(packaged: Path) -> None:
    """Every check passes or is skipped in the template with its reason; the manifest too."""
    targets = [*TEMPLATES, packaged / "edge.yaml", STACK / "k8s" / "worker.yaml"]
    command = [str(checkov()), "--compact", "--skip-download", "--framework", "cloudformation", "kubernetes",
               "--output", "json"]  # fmt: skip
    for target in targets:
        command += ["-f", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']} ({report['check_type']})"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == [], failed
    skipped = [check for report in reports for check in report["results"]["skipped_checks"]]
    assert all(check["check_result"].get("suppress_comment") for check in skipped), "a skip without a reason"
    assert sum(report["summary"]["passed"] for report in reports) > 40
    assert done.returncode == 0, done.stderr[-2000:]


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                yield where, node
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                yield from walk(value, where)

    yield from walk(template["Resources"], "Resources")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_iam_has_no_action_wildcard(path: Path) -> None:
    """Every Allow names its actions and its resources: the bucket, its prefix, a queue, the table."""
    found = list(_statements(load(path)))
    assert found
    for where, statement in found:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (where, actions)
        if statement["Effect"] == "Allow" and "Resource" in statement:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "*" in resources:  # the one action without resource-level permissions
                assert actions == ["ecr:GetAuthorizationToken"], where


def test_the_viewer_function_is_inlined(packaged: Path) -> None:
    """CloudFormation cannot package a CloudFront Function: package-stack puts the file's code in."""
    template = load(packaged / "edge.yaml")
    code = template["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionCode"]
    assert code == (ROOT / "edge" / "viewer" / "function.js").read_text()
    assert template["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionConfig"]["Runtime"] == (
        "cloudfront-js-2.0"
    )


def test_deploy_script_runs_the_plan(packaged: Path) -> None:
    """deploy.sh is plan.json as aws commands: every upload and parameter, edge stack first."""
    script = (packaged / "deploy.sh").read_text()
    plan = json.loads((packaged / "plan.json").read_text())
    for upload in plan["uploads"]:
        assert f"s3://{upload['bucket']}/{upload['key']}" in script
    deploys = [line for line in script.splitlines() if line.startswith("aws cloudformation deploy")]
    for stack, line in zip(plan["stacks"], deploys, strict=True):
        assert f"--region {stack['region']} --stack-name {stack['name']} " in line
        for name, value in stack["parameters"].items():
            assert f"{name}=" in line and value.replace("$", "") in line.replace("$", "")
    subprocess.run(["sh", "-n", str(packaged / "deploy.sh")], check=True)
    subprocess.run(["sh", "-n", str(packaged / "teardown.sh")], check=True)


def test_a_changed_zip_is_a_new_version(tmp_path: Path) -> None:
    """The code key follows the zip's bytes: new bytes publish new versions (the associations move),
    the same bytes deploy as a no-op."""
    first = package(tmp_path / "a")
    again = package(tmp_path / "b")
    assert first["uploads"] == again["uploads"]
    changed = package(tmp_path / "c", edge_modules=("edge/handler.py", "edge/new.py"))
    assert changed["uploads"][0]["key"] != first["uploads"][0]["key"]
    assert changed["stacks"][0]["parameters"]["EdgeCodeKey"] == changed["uploads"][0]["key"]


# ---------------------------------------------------------------- deployed into moto


@pytest.fixture(scope="module")
def moto_endpoint(s3_endpoint: str) -> str:
    """The session's moto server: one process's moto servers share their backends anyway, and
    CloudFormation creates resources of every service and region in them. Names here (bucket
    media-example, queues tachyon-*) are not used by other tests."""
    return s3_endpoint


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


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The SQS-native deployment with workers, its originals under uploads/, into moto."""
    ec2 = aws(moto_endpoint, "ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    out = tmp_path_factory.mktemp("moto") / "sqs"
    plan = package(out, "--originals-prefix", "uploads/", "--worker-image",
                   f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tachyon-edge-worker:1", "--vpc", vpc,
                   "--subnet", subnet, "--parameter", "LiveMaxWorkers=7")  # fmt: skip
    return {
        "plan": plan,
        "outputs": apply(moto_endpoint, out, plan),
        "endpoint": moto_endpoint,
        "folder": out,
    }


def stack_resources(deployed: dict[str, Any], index: int) -> dict[str, dict[str, Any]]:
    stack = deployed["plan"]["stacks"][index]
    cloudformation = aws(deployed["endpoint"], "cloudformation", stack["region"])
    listed = cloudformation.list_stack_resources(StackName=stack["name"])["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r for r in listed}


def test_queues_are_those_the_edge_and_worker_name(deployed: dict[str, Any]) -> None:
    """tachyon-derivatives / -batch / -events by core.jobs' names, each redriving to its -dlq."""
    sqs = aws(deployed["endpoint"], "sqs", REGION)
    receives = {"derivatives": 5, "batch": 5, EVENTS_QUEUE: 10}
    for name in (*QUEUES, EVENTS_QUEUE):
        queue = sqs_queue_name(name, "tachyon-")
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}{DEAD_LETTER_SUFFIX}"
        assert int(redrive["maxReceiveCount"]) == receives[name]
        assert int(attributes["VisibilityTimeout"]) == (1800 if name == EVENTS_QUEUE else 210)
        sqs.get_queue_url(QueueName=queue + DEAD_LETTER_SUFFIX)
    outputs = deployed["outputs"]["tachyon-regional"]
    config = (Path(deployed["plan"]["uploads"][0]["file"]).name, outputs["LiveQueueUrl"])
    assert config[1].endswith("/tachyon-derivatives")


def regional(deployed: dict[str, Any], logical: str, attributes: dict[str, str] | None = None) -> Any:
    """A regional resource's properties as the deployed parameters make them."""
    template = load(deployed["folder"] / "regional.yaml")
    parameters = dict(deployed["plan"]["stacks"][1]["parameters"])
    parameters["DistributionId"] = deployed["outputs"]["tachyon-edge"]["DistributionId"]
    return resolve(template, parameters, template["Resources"][logical]["Properties"], attributes or {})


def test_bucket_notifies_originals_only(deployed: dict[str, Any]) -> None:
    """An original written under uploads/ reaches the events queue; a derivative written never does.

    moto's CloudFormation creates the bucket but ignores its NotificationConfiguration: the test
    puts the template's, resolved with the deployed parameters, through S3's own API (moto then
    checks the queue exists and delivers events as S3 does)."""
    s3 = aws(deployed["endpoint"], "s3", REGION)
    sqs = aws(deployed["endpoint"], "sqs", REGION)
    url = sqs.get_queue_url(QueueName="tachyon-events")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:tachyon-events"
    properties = regional(deployed, "MediaBucket", {"EventsQueue.Arn": arn})
    config = properties["NotificationConfiguration"]
    assert "EventBridgeConfiguration" not in config  # the prefix filter does it
    rules = [
        {"Events": [q["Event"]], "QueueArn": q["Queue"],
         "Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}}
        for q in config["QueueConfigurations"]
    ]  # fmt: skip
    api = {"QueueConfigurations": rules}
    s3.put_bucket_notification_configuration(Bucket="media-example", NotificationConfiguration=api)
    functions = aws(deployed["endpoint"], "lambda", REGION)  # moto would run the purge function in Docker
    for mapping in functions.list_event_source_mappings(FunctionName="tachyon-purge")["EventSourceMappings"]:
        functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    sqs.purge_queue(QueueUrl=url)  # S3's test event
    s3.put_object(Bucket="media-example", Key="_derivatives/uploads/a.jpg/w300_q82.r3.jpg", Body=b"d")
    s3.put_object(Bucket="media-example", Key="uploads/a.jpg", Body=b"o")
    s3.delete_object(Bucket="media-example", Key="uploads/a.jpg")
    got = []
    for _ in range(5):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            for record in json.loads(message["Body"]).get("Records", []):
                got.append((record["eventName"], unquote_plus(record["s3"]["object"]["key"])))
        if len(got) >= 2:
            break
    assert sorted(got) == [("ObjectCreated:Put", "uploads/a.jpg"), ("ObjectRemoved:Delete", "uploads/a.jpg")]
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )


def test_job_table_has_the_key_the_job_records_use(deployed: dict[str, Any]) -> None:
    ddb = aws(deployed["endpoint"], "dynamodb", REGION)
    table = ddb.describe_table(TableName="tachyon-jobs")["Table"]
    assert table["KeySchema"] == [{"AttributeName": KEY, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": KEY, "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # moto ignores TimeToLiveSpecification: read from the template as deployed
    ttl = regional(deployed, "JobTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_functions_run_the_handlers(deployed: dict[str, Any]) -> None:
    """Edge functions in us-east-1 (python3.12, x86_64, both handlers, published versions); the
    purge function in the bucket's region, fed by the events queue with a batching window."""
    edge = aws(deployed["endpoint"], "lambda", "us-east-1")
    request = edge.get_function_configuration(FunctionName="tachyon-edge")
    response = edge.get_function_configuration(FunctionName="tachyon-edge-response")
    assert (request["Handler"], response["Handler"]) == (
        "edge.handler.origin_request",
        "edge.handler.origin_response",
    )
    for config in (request, response):
        assert (config["Runtime"], config["Architectures"]) == ("python3.12", ["x86_64"])
        assert "Environment" not in config or not config["Environment"].get(
            "Variables"
        )  # Lambda@Edge has none
    assert request["Timeout"] == 30 and response["Timeout"] == 5
    role = aws(deployed["endpoint"], "iam", "us-east-1").get_role(RoleName=request["Role"].rsplit("/", 1)[1])
    trusted = role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert sorted(trusted) == ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]
    versions = edge.list_versions_by_function(FunctionName="tachyon-edge")["Versions"]
    assert any(v["Version"] != "$LATEST" for v in versions)
    edge_outputs = deployed["outputs"]["tachyon-edge"]

    regional = aws(deployed["endpoint"], "lambda", REGION)
    purge = regional.get_function_configuration(FunctionName="tachyon-purge")
    assert (purge["Handler"], purge["Runtime"]) == ("purger.handler.handler", "python3.12")
    variables = purge["Environment"]["Variables"]
    assert variables["TACHYON_BUCKET"] == "media-example"
    assert variables["TACHYON_DERIVATIVE_PREFIX"] == "_derivatives/"
    assert variables["TACHYON_CLOUDFRONT_DISTRIBUTION_ID"] == edge_outputs["DistributionId"]
    (mapping,) = regional.list_event_source_mappings(FunctionName="tachyon-purge")["EventSourceMappings"]
    assert mapping["EventSourceArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:tachyon-events"
    assert mapping["BatchSize"] == 1000


def test_workers_consume_one_queue_each(deployed: dict[str, Any]) -> None:
    """Two Fargate services, -Q derivatives and -Q batch, pointed at the stack's queues and table."""
    ecs = aws(deployed["endpoint"], "ecs", REGION)
    resources = stack_resources(deployed, 1)
    commands = {}
    for logical in ("LiveTaskDefinition", "BatchTaskDefinition"):
        arn = resources[logical]["PhysicalResourceId"]
        (container,) = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
            "containerDefinitions"
        ]
        env = {e["name"]: e["value"] for e in container["environment"]}
        commands[logical] = container["command"]
        assert env["TACHYON_BROKER_URL"] == "sqs://"
        assert env["TACHYON_JOB_TABLE"] == "tachyon-jobs"
        urls = json.loads(env["TACHYON_QUEUE_URLS"])
        assert urls == {"derivatives": deployed["outputs"]["tachyon-regional"]["LiveQueueUrl"],
                        "batch": deployed["outputs"]["tachyon-regional"]["BatchQueueUrl"]}  # fmt: skip
        assert container["image"].endswith("tachyon-edge-worker:1")
    assert commands["LiveTaskDefinition"][-2:] == ["derivatives", "--loglevel=INFO"]
    assert commands["BatchTaskDefinition"][-2:] == ["batch", "--loglevel=INFO"]


#: What moto's CloudFormation cannot create (checked statically below, and named in docs/deploy.md).
MOTO_CANNOT_CREATE = {
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::CloudFront::CachePolicy", "AWS::CloudFront::Distribution", "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl", "AWS::CloudFront::OriginRequestPolicy", "AWS::CloudWatch::Alarm",
    "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy",
}  # fmt: skip


def test_what_moto_cannot_create_is_named(deployed: dict[str, Any]) -> None:
    """Every other type was created in moto; the docs list every type the templates use."""
    used = {r["Type"] for path in TEMPLATES for r in load(path)["Resources"].values()}
    assert {t for t in used if moto_cannot_create(t)} == MOTO_CANNOT_CREATE
    for index, stack in enumerate(deployed["plan"]["stacks"]):
        template = load(deployed["folder"] / stack["template"])
        parameters = {**stack["parameters"], "DistributionId": "E1"}
        expected = {
            name
            for name, resource in template["Resources"].items()
            if not moto_cannot_create(resource["Type"])
            and (
                "Condition" not in resource
                or resolve(template, parameters, {"Condition": resource["Condition"]}, {})
            )
        }
        # moto adds one summary without ids or type to each listing: ignored
        assert set(stack_resources(deployed, index)) - {""} == expected
    documented = (ROOT / "docs" / "deploy.md").read_text()
    assert [t for t in sorted(used) if f"`{t}`" not in documented] == []


def test_distribution_as_written(packaged: Path) -> None:
    """What moto cannot create, read from the packaged template: the origin group the edge's two
    passes need (edge.request.pass_of), the cache key, both associations by published version."""
    resources = load(packaged / "edge.yaml")["Resources"]
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert {o["OriginCustomHeaders"][0]["HeaderValue"] for o in origins.values()} == {"primary", "failover"}
    assert all(o["OriginCustomHeaders"][0]["HeaderName"] == "x-tachyon-origin" for o in origins.values())
    assert origins["primary"]["DomainName"] == origins["failover"]["DomainName"]
    assert origins["primary"]["OriginPath"] == origins["failover"]["OriginPath"]
    assert all(
        o["OriginAccessControlId"] == {"Fn::GetAtt": ["OriginAccessControl", "Id"]} for o in origins.values()
    )
    (group,) = config["OriginGroups"]["Items"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [403, 404]
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["primary", "failover"]
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == group["Id"]
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"] and behaviour["Compress"] is False
    associations = {a["EventType"]: a["LambdaFunctionARN"] for a in behaviour["LambdaFunctionAssociations"]}
    assert associations == {"origin-request": {"Ref": "OriginRequestVersion"},
                            "origin-response": {"Ref": "OriginResponseVersion"}}  # fmt: skip
    assert behaviour["FunctionAssociations"] == [
        {
            "EventType": "viewer-request",
            "FunctionARN": {"Fn::GetAtt": ["ViewerRequestFunction", "FunctionARN"]},
        }
    ]
    policy = resources["CachePolicy"]["Properties"]["CachePolicyConfig"]
    assert policy["MinTTL"] == 0
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["HeadersConfig"]["Fn::If"][0] == "AcceptInKey"  # Accept only with auto-format
    assert resources["OriginRequestVersion"]["DeletionPolicy"] == "Retain"  # rollback, replicas


def test_scaling_as_written(packaged: Path) -> None:
    """The autoscaling moto cannot create: live 1..LiveMaxWorkers, batch from zero, each on its
    queue's depth, out fast (60-120 s cooldown) and in slowly (300 s) when nothing is in flight."""
    template = load(packaged / "regional.yaml")
    resources = template["Resources"]
    for service, low, high in (
        ("Live", "LiveMinWorkers", "LiveMaxWorkers"),
        ("Batch", "BatchMinWorkers", "BatchMaxWorkers"),
    ):
        target = resources[f"{service}ScalableTarget"]["Properties"]
        assert (target["MinCapacity"], target["MaxCapacity"]) == ({"Ref": low}, {"Ref": high})
        out = resources[f"{service}ScaleOut"]["Properties"]["StepScalingPolicyConfiguration"]
        back = resources[f"{service}ScaleIn"]["Properties"]["StepScalingPolicyConfiguration"]
        assert out["Cooldown"] <= 120 and back["Cooldown"] >= 300
        queue = "LiveQueue" if service == "Live" else "BatchQueue"
        alarm = resources[f"{service}BacklogAlarm"]["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m] or [alarm]
        assert stats[0]["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
        ]
        assert stats[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["AlarmActions"] == [{"Ref": f"{service}ScaleOut"}]
        idle = resources[f"{service}IdleAlarm"]["Properties"]
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in idle["Metrics"] if "MetricStat" in m}
        assert names == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    assert template["Parameters"]["BatchMinWorkers"]["Default"] == 0
    live = resources["LiveBacklogAlarm"]["Properties"]
    (ratio,) = [m for m in live["Metrics"] if m.get("ReturnData")]
    assert ratio["Expression"] == "visible / MAX([FILL(tasks, 0), 1])"  # messages per running worker
    assert live["Threshold"] == {"Ref": "MessagesPerWorker"}


# ---------------------------------------------------------------- the viewer function, under node

NODE = shutil.which("node") or "/usr/bin/node"
#: Runs a CloudFront Function as the runtime does: the file's code alone in a fresh context (no
#: require, process, timers or network), ``handler(event)`` called once; its result printed.
RUNNER = """
const vm = require('vm');
const fs = require('fs');
const [code, event] = [fs.readFileSync(process.argv[1], 'utf8'), JSON.parse(fs.readFileSync(0, 'utf8'))];
const context = vm.createContext({});
vm.runInContext(code, context, {timeout: 1000});
context.event = event;
const result = vm.runInContext('handler(event)', context, {timeout: 1000});
process.stdout.write(JSON.stringify(result));
"""


def viewer_event(uri: str, query: dict[str, str], accept: str) -> dict[str, Any]:
    """CloudFront's documented viewer-request event (CloudFront Functions "event structure")."""
    return {
        "version": "1.0",
        "context": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                    "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
                    "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {name: {"value": value} for name, value in query.items()},
            "headers": {"host": {"value": "cdn.example.com"}, "accept": {"value": accept},
                        "user-agent": {"value": "Mozilla/5.0"}},
            "cookies": {},
        },
    }  # fmt: skip


def run_viewer_function(event: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [NODE, "-e", RUNNER, str(ROOT / "edge" / "viewer" / "function.js")],
        input=json.dumps(event), capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def origin_request_event(viewer: dict[str, Any], bucket: str, origin: str) -> dict[str, Any]:
    """What CloudFront sends the origin-request function after the viewer function: the query object
    serialised back into the raw string (repeated names for multiValue), headers in Lambda@Edge's
    shape, the origin's custom header of the pass."""
    from tests.cf_events import origin_request

    parts = []
    for name, item in viewer["querystring"].items():
        values = [v["value"] for v in item.get("multiValue") or [item]]
        parts += [f"{name}={value}" if value != "" else name for value in values]
    headers = {name: item["value"] for name, item in viewer["headers"].items()}
    event = origin_request(bucket, viewer["uri"], "&".join(parts), headers)
    event["Records"][0]["cf"]["request"]["origin"]["s3"]["customHeaders"] = {
        "x-tachyon-origin": [{"key": "x-tachyon-origin", "value": origin}]
    }
    return event


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"w": "300"}, "w=300"), ({"resize": "150,150", "utm_source": "mail"}, "resize=150,150"),
     ({"zoom": "2", "w": "100", "quality": "70"}, "w=100&zoom=2&quality=70")],
)  # fmt: skip
def test_viewer_function_then_the_edge(query: dict[str, str], expected: str) -> None:
    """The CloudFront Function's request, passed on as CloudFront does, is rewritten by the primary
    pass to the derivative the viewer's own arguments name, and the code fits CloudFront's 10 KB."""
    from core.args import parse_query
    from core.formats import format_of_path
    from core.keys import request_key
    from edge.config import load as edge_config
    from edge.handler import origin_request

    assert len((ROOT / "edge" / "viewer" / "function.js").read_bytes()) <= 10 * 1024
    viewer = run_viewer_function(
        viewer_event("/uploads/2018/02/photo.jpg", query, "image/avif,image/webp,*/*")
    )
    assert viewer["uri"] == "/uploads/2018/02/photo.jpg"
    forwarded = origin_request(origin_request_event(viewer, "media-example", "primary"))
    config = edge_config()
    transform = parse_query(expected, config)
    assert transform is not None
    key = request_key("uploads/2018/02/photo.jpg", transform, format_of_path("x.jpg") or "jpeg", accept=None,
                      prefix=config.derivative_prefix)  # fmt: skip
    assert forwarded["uri"] == "/" + key
    assert forwarded["querystring"] == ""


def test_an_invalid_argument_through_the_viewer_function_is_a_400() -> None:
    from edge.handler import origin_request

    viewer = run_viewer_function(viewer_event("/uploads/photo.jpg", {"w": "abc"}, "*/*"))
    answer = origin_request(origin_request_event(viewer, "media-example", "primary"))
    assert answer["status"] == "400"
    assert "w" in answer["body"]


def test_the_edge_reaches_what_the_regional_stack_made(deployed: dict[str, Any]) -> None:
    """The two stacks agree without exports: the edge role's queue and table ARNs (built from
    names) are those of the queue and table the regional stack created, and the bundled config
    names that queue's URL and that table, and is valid for Settings (build-lambda's check)."""
    import tomllib

    from cli.lambda_zip import check_config

    iam = aws(deployed["endpoint"], "iam", "us-east-1")
    role = aws(deployed["endpoint"], "lambda", "us-east-1").get_function_configuration(
        FunctionName="tachyon-edge"
    )
    name = role["Role"].rsplit("/", 1)[1]
    (policy,) = iam.list_role_policies(RoleName=name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):  # moto stores a CloudFormation role's inline policy as Python's repr
        document = ast.literal_eval(document)
    granted = {
        s["Action"] if isinstance(s["Action"], str) else s["Action"][0]: s["Resource"]
        for s in document["Statement"]
    }
    sqs = aws(deployed["endpoint"], "sqs", REGION)
    url = sqs.get_queue_url(QueueName="tachyon-derivatives")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert granted["sqs:SendMessage"] == arn
    table = aws(deployed["endpoint"], "dynamodb", REGION).describe_table(TableName="tachyon-jobs")["Table"]
    assert granted["dynamodb:UpdateItem"] == table["TableArn"]
    assert granted["s3:PutObject"] == "arn:aws:s3:::media-example/_derivatives/*"

    config_file = deployed["folder"] / "tachyon.toml"
    check_config(config_file)
    config = tomllib.loads(config_file.read_text())
    assert config["queue_urls"]["derivatives"].endswith(f"/{ACCOUNT}/tachyon-derivatives")
    assert url.endswith(f"/{ACCOUNT}/tachyon-derivatives")  # the same queue, moto's host before it
    assert (config["job_table"], config["queue_region"], config["broker_url"]) == (
        "tachyon-jobs",
        REGION,
        "sqs://",
    )


@pytest.fixture(scope="module")
def deployed_redis(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The other branch of every condition: an existing bucket, originals anywhere in it (so the
    EventBridge route), a Redis broker, workers. moto's servers in one process share their
    backends, so this deployment has its own region, bucket, stack and function names."""
    endpoint = moto_endpoint
    aws(endpoint, "s3", REGION2).create_bucket(
        Bucket="media-redis", CreateBucketConfiguration={"LocationConstraint": REGION2}
    )
    ec2 = aws(endpoint, "ec2", REGION2)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    out = tmp_path_factory.mktemp("moto") / "redis"
    secret = f"arn:aws:secretsmanager:{REGION2}:{ACCOUNT}:secret:tachyon-redis-AbCdEf"
    plan = package(out, "--bucket", "media-redis", "--region", REGION2, "--stack-prefix", "t2",
                   "--parameter", "FunctionName=t2-edge", "--artefacts", "artefacts-central",
                   "--existing-bucket", "--broker", "redis", "--broker-url", "rediss://:secret@redis.example.net:6380/0",
                   "--redis-secret-arn", secret,
                   "--worker-image", f"{ACCOUNT}.dkr.ecr.{REGION2}.amazonaws.com/tachyon-edge-worker:1",
                   "--vpc", vpc, "--subnet", subnet)  # fmt: skip
    outputs = apply(endpoint, out, plan)
    return {"plan": plan, "outputs": outputs, "endpoint": endpoint, "folder": out, "secret": secret}


def test_redis_deployment_makes_no_queue_or_table(deployed_redis: dict[str, Any]) -> None:
    """Redis carries the jobs: no SQS render queue, no job table, no SQS or DynamoDB grant at the
    edge; one worker service consumes both queues (live first) with the broker URL from the secret."""
    endpoint = deployed_redis["endpoint"]
    queues = aws(endpoint, "sqs", REGION2).list_queues().get("QueueUrls", [])
    assert sorted(url.rsplit("/", 1)[1] for url in queues) == ["tachyon-events", "tachyon-events-dlq"]
    assert aws(endpoint, "dynamodb", REGION2).list_tables()["TableNames"] == []
    edge = load(deployed_redis["folder"] / "edge.yaml")
    parameters = deployed_redis["plan"]["stacks"][0]["parameters"]
    statements = resolve(edge, parameters, edge["Resources"]["EdgeRole"]["Properties"]["Policies"], {})
    actions = {
        s["Action"] if isinstance(s["Action"], str) else s["Action"][0]
        for s in statements[0]["PolicyDocument"]["Statement"]
    }
    assert not any(a.startswith(("sqs:", "dynamodb:")) for a in actions)
    resources = stack_resources(deployed_redis, 1)
    assert "BatchService" not in resources and "LiveService" in resources
    arn = resources["LiveTaskDefinition"]["PhysicalResourceId"]
    ecs = aws(endpoint, "ecs", REGION2)
    (container,) = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"]
    assert container["command"][-2:] == ["derivatives,batch", "--loglevel=INFO"]
    assert container["secrets"] == [{"name": "TACHYON_BROKER_URL", "valueFrom": deployed_redis["secret"]}]
    # moto keeps AWS::NoValue in a list as null, where CloudFormation drops the entry
    assert "TACHYON_BROKER_URL" not in {e["name"] for e in container["environment"] if e}
    config = (deployed_redis["folder"] / "tachyon.toml").read_text()
    assert 'broker_url = "rediss://:secret@redis.example.net:6380/0"' in config and "queue_urls" not in config


def test_without_a_prefix_eventbridge_leaves_derivatives_out(deployed_redis: dict[str, Any]) -> None:
    """An existing bucket, originals at any key: the rule sends the bucket's changes except under
    the derivative prefix to the events queue, once EventBridge is switched on as docs/deploy.md says."""
    endpoint = deployed_redis["endpoint"]
    events = aws(endpoint, "events", REGION2)
    rule = events.describe_rule(Name="tachyon-originals-changed")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["object"]["key"] == [{"anything-but": {"prefix": "_derivatives/"}}]
    assert pattern["detail"]["bucket"]["name"] == ["media-redis"]
    (target,) = events.list_targets_by_rule(Rule="tachyon-originals-changed")["Targets"]
    assert target["Arn"] == f"arn:aws:sqs:{REGION2}:{ACCOUNT}:tachyon-events"
    s3 = aws(endpoint, "s3", REGION2)
    s3.put_bucket_notification_configuration(
        Bucket="media-redis", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    functions = aws(endpoint, "lambda", REGION2)  # moto would run the purge function in Docker
    for mapping in functions.list_event_source_mappings(FunctionName="tachyon-purge")["EventSourceMappings"]:
        functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    s3.put_object(Bucket="media-redis", Key="_derivatives/2018/a.jpg/w300_q82.r3.jpg", Body=b"d")
    s3.put_object(Bucket="media-redis", Key="2018/a.jpg", Body=b"o")
    sqs = aws(endpoint, "sqs", REGION2)
    url = sqs.get_queue_url(QueueName="tachyon-events")["QueueUrl"]
    keys = []
    for _ in range(5):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            keys.append(json.loads(message["Body"])["detail"]["object"]["key"])
        if keys:
            break
    assert keys == ["2018/a.jpg"]


def test_the_documented_commands_run(tmp_path: Path) -> None:
    """docs/deploy.md's ``tachyon-edge package-stack …`` names real options and, with its shell
    variables filled in (and stand-in zips), writes a deploy.sh naming its bucket and subnets."""
    from tests.test_compose import assert_cli_command

    text = (ROOT / "docs" / "deploy.md").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("tachyon-edge package-stack ")]
    values = {"$ACCOUNT": ACCOUNT, "$REGION": REGION}
    argv = shlex.split(re.sub(r"\$[A-Z]+", lambda m: values[m.group(0)], line))
    assert_cli_command(argv)
    edge = tiny_zip(tmp_path / "edge.zip", "edge/handler.py")
    purge = tiny_zip(tmp_path / "purge.zip", "purger/handler.py")
    out = tmp_path / "stack"
    args = [*argv[1:], "--edge-zip", str(edge), "--purge-zip", str(purge), "-o", str(out)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    script = (out / "deploy.sh").read_text()
    assert "BucketName=media-example" in script
    assert "SubnetIds=subnet-0123456789abcdef0,subnet-0fedcba9876543210" in script
    assert f"s3://tachyon-artefacts-{ACCOUNT}-us-east-1/tachyon/edge-" in script


# ---------------------------------------------------------------- the Kubernetes manifest


def test_kubernetes_manifest_matches_the_schemas_and_the_queues() -> None:
    """Every built-in object is valid (strict: no unknown field) for Kubernetes 1.31; KEDA's
    objects, which have no schema there, scale the two Deployments on the two queues' depth."""
    manifest = STACK / "k8s" / "worker.yaml"
    done = subprocess.run(
        [str(tool(KUBERNETES_VALIDATE, "kubernetes-validate")), "--strict", "-k", "1.31.0", str(manifest)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    objects = list(yaml.safe_load_all(manifest.read_text()))
    passed = done.stdout + done.stderr
    builtin = [o for o in objects if not o["apiVersion"].startswith("keda.sh/")]
    assert passed.count(" passed for resource ") == len(builtin)
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    urls = json.loads(config["TACHYON_QUEUE_URLS"])
    assert config["TACHYON_BROKER_URL"] == "sqs://"
    auth = {o["metadata"]["name"] for o in objects if o["kind"] == "TriggerAuthentication"}
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
    assert set(scaled) == set(deployments)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        queue = container["args"][container["args"].index("-Q") + 1]
        (trigger,) = scaled[name]["spec"]["triggers"]
        assert trigger["type"] == "aws-sqs-queue"
        assert trigger["metadata"]["queueURL"] == urls[queue]
        assert urls[queue].endswith("/" + sqs_queue_name(queue, "tachyon-"))
        assert trigger["authenticationRef"]["name"] in auth
        assert container["livenessProbe"]["exec"]["command"] == ["tachyon-edge", "worker-health"]
    assert scaled["tachyon-worker-batch"]["spec"]["minReplicaCount"] == 0
