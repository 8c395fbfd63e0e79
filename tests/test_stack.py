"""The infrastructure as code, checked without an AWS account (docs/deploy.md, "What is checked").

- cfn-lint on every template, as written and as ``package-stack`` writes it;
- checkov (static security scan) on the templates and the Kubernetes manifest: no failed check
  (every skip carries its reason in the template); and, read here, no IAM action wildcard and
  no ``*`` resource but the one action that has no resource-level permission;
- what moto cannot create (the distribution, the scaling), read from the packaged template;
- the Kubernetes manifest against Kubernetes' schemas; the documented commands run.

The deployments into moto are in tests/test_stack_moto.py, the viewer function under node in
tests/test_viewer_function.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from core.jobs import sqs_queue_name
from tests.cfn import ACCOUNT, BIN, REGION, ROOT, STACK, TEMPLATES, load, package, tiny_zip

#: checkov cannot join requirements.lock (it pins packaging<24; the lock has a newer one that
#: pip, setuptools and uv need): it runs from a virtualenv of its own, at this version.
CHECKOV = "checkov==3.3.30"
#: Kubernetes' own schemas of every release, offline (108 MB: kept out of the test extra too).
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"
TOOLS = ROOT / ".venv-tools"


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
