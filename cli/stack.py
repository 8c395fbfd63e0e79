"""`tachyon-edge package-stack`: everything a deployment needs, in one folder, with the exact commands.

It writes, under ``--output`` (default ``dist/stack``):

- ``tachyon.toml``, the edge's bundled configuration, made from the options (the queue URLs and
  job table the regional stack creates, by name: Lambda@Edge has no environment variables);
- ``edge.zip`` and ``purge.zip`` (``cli.lambda_zip``), unless given prebuilt;
- ``edge.yaml`` (stack/edge.yaml with ``edge/viewer/function.js`` inlined as the CloudFront
  Function's code, which CloudFormation cannot package) and ``regional.yaml``;
- ``plan.json``: the uploads and the two stacks with their parameters, in deployment order;
- ``deploy.sh`` and ``teardown.sh``: those as ``aws`` commands (``plan.json`` rendered).

Artefact keys are named after the zip's hash, so a changed zip is a new key, which publishes new
Lambda versions and moves the distribution's associations to them (stack/edge.yaml); the same zip
deploys as a no-op. Two stacks, because Lambda@Edge lives in us-east-1 and the bucket, queues and
workers in their own region; the one value the regional stack needs from the edge stack (the
distribution's id) is read by ``deploy.sh`` between the two. docs/deploy.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "stack"
VIEWER_FUNCTION = ROOT / "edge" / "viewer" / "function.js"
EDGE_REGION = "us-east-1"
#: CloudFront's limit on a function's code.
VIEWER_FUNCTION_LIMIT = 10 * 1024
#: The placeholder block stack/edge.yaml carries for the viewer function's code.
_FUNCTION_CODE = re.compile(r"^(?P<indent>[ ]*)FunctionCode: \|\n(?:(?P=indent)[ ]+.*\n|\n)+", re.MULTILINE)


class PackageError(click.ClickException):
    """The stack cannot be packaged as asked."""


@dataclass(frozen=True)
class Target:
    """Where and how to deploy: the options of ``package-stack``."""

    bucket: str
    region: str
    account: str
    artefacts: str
    edge_artefacts: str
    stack_prefix: str = "tachyon"
    broker: str = "sqs"
    broker_url: str | None = None
    create_bucket: bool = True
    originals_prefix: str = ""
    derivative_prefix: str = "_derivatives/"
    queue_prefix: str = "tachyon-"
    job_table: str = "tachyon-jobs"
    fallback_ttl: int = 10
    auto_format: bool = False
    aliases: tuple[str, ...] = ()
    certificate_arn: str = ""
    worker_image: str = ""
    vpc: str = ""
    subnets: tuple[str, ...] = ()
    redis_secret_arn: str = ""
    parameters: dict[str, str] = field(default_factory=dict)

    def queue_url(self, queue: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.queue_prefix}{queue}"


def edge_config(target: Target) -> str:
    """The edge's bundled settings (core.settings field names) for this deployment, as TOML."""
    values: dict[str, Any] = {
        "bucket": target.bucket,
        "region": target.region,
        "derivative_prefix": target.derivative_prefix,
        "fallback_ttl": target.fallback_ttl,
        "auto_format": target.auto_format,
    }
    if target.broker == "sqs":
        values |= {"broker_url": "sqs://", "queue_region": target.region, "queue_prefix": target.queue_prefix,
                   "job_table": target.job_table}  # fmt: skip
    elif target.broker_url:
        values["broker_url"] = target.broker_url
    else:
        raise PackageError(
            "--broker redis needs --broker-url rediss://… (the edge reaches it from every region)"
        )
    lines = [f"{name} = {json.dumps(value)}" for name, value in values.items()]
    if target.broker == "sqs":
        lines += ["", "[queue_urls]", f"derivatives = {json.dumps(target.queue_url('derivatives'))}"]
    return "# Made by tachyon-edge package-stack (docs/deploy.md).\n" + "\n".join(lines) + "\n"


def inline_viewer_function(template: str, code: str) -> str:
    """stack/edge.yaml with ``code`` as the CloudFront Function's FunctionCode (a YAML block scalar)."""
    if len(code.encode()) > VIEWER_FUNCTION_LIMIT:
        raise PackageError(f"{VIEWER_FUNCTION} is over CloudFront's {VIEWER_FUNCTION_LIMIT} bytes")
    match = _FUNCTION_CODE.search(template)
    if match is None:
        raise PackageError(
            "stack/edge.yaml has no `FunctionCode: |` block to inline the viewer function into"
        )
    body_indent = match["indent"] + "  "
    body = "".join(body_indent + line + "\n" if line.strip() else "\n" for line in code.splitlines())
    return template[: match.start()] + f"{match['indent']}FunctionCode: |\n{body}" + template[match.end() :]


def template_parameters(template: str) -> set[str]:
    """The names a template declares under ``Parameters:`` (two-space keys of that section)."""
    section = template.split("\nParameters:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  ([A-Za-z0-9]+):", section, re.MULTILINE))


def artefact_key(zip_path: Path) -> str:
    """``tachyon/<stem>-<hash>.zip``: a new key exactly when the code changes."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    return f"tachyon/{zip_path.stem}-{digest}.zip"


def _extra(target: Target, template: str) -> dict[str, str]:
    """The ``--parameter`` values this template declares."""
    names = template_parameters(template)
    return {name: value for name, value in target.parameters.items() if name in names}


def edge_parameters(target: Target, code_key: str, template: str) -> dict[str, str]:
    values = {
        "BucketName": target.bucket,
        "BucketRegion": target.region,
        "DerivativePrefix": target.derivative_prefix,
        "Broker": target.broker,
        "QueuePrefix": target.queue_prefix,
        "JobTableName": target.job_table,
        "EdgeCodeBucket": target.edge_artefacts,
        "EdgeCodeKey": code_key,
        "AutoFormat": str(target.auto_format).lower(),
        "Aliases": ",".join(target.aliases),
        "CertificateArn": target.certificate_arn,
    }
    return {k: v for k, v in values.items() if v} | _extra(target, template)


def regional_parameters(target: Target, code_key: str, template: str, distribution: str) -> dict[str, str]:
    values = {
        "BucketName": target.bucket,
        "CreateBucket": str(target.create_bucket).lower(),
        "DerivativePrefix": target.derivative_prefix,
        "OriginalsPrefix": target.originals_prefix,
        "DistributionId": distribution,
        "Broker": target.broker,
        "RedisUrlSecretArn": target.redis_secret_arn,
        "QueuePrefix": target.queue_prefix,
        "JobTableName": target.job_table,
        "PurgeCodeBucket": target.artefacts,
        "PurgeCodeKey": code_key,
        "WorkerImage": target.worker_image,
        "VpcId": target.vpc,
        "SubnetIds": ",".join(target.subnets),
    }
    return {k: v for k, v in values.items() if v} | _extra(target, template)


#: Where ``deploy.sh`` puts the edge stack's output between the two stacks.
DISTRIBUTION_VARIABLE = "$DISTRIBUTION_ID"


def plan(target: Target, out: Path, edge_zip: Path, purge_zip: Path) -> dict[str, Any]:
    """The uploads and the stacks, in order (what deploy.sh runs and the tests apply to moto)."""
    edge_key, purge_key = artefact_key(edge_zip), artefact_key(purge_zip)
    edge_template = (out / "edge.yaml").read_text()
    regional_template = (out / "regional.yaml").read_text()
    return {
        "uploads": [
            {"file": edge_zip.name, "bucket": target.edge_artefacts, "key": edge_key, "region": EDGE_REGION},
            {"file": purge_zip.name, "bucket": target.artefacts, "key": purge_key, "region": target.region},
        ],
        "stacks": [
            {
                "name": f"{target.stack_prefix}-edge",
                "region": EDGE_REGION,
                "template": "edge.yaml",
                "parameters": edge_parameters(target, edge_key, edge_template),
            },
            {
                "name": f"{target.stack_prefix}-regional",
                "region": target.region,
                "template": "regional.yaml",
                "parameters": regional_parameters(
                    target, purge_key, regional_template, DISTRIBUTION_VARIABLE
                ),
            },
        ],
    }


def _output(stack: dict[str, Any], key: str) -> str:
    query = f"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue"
    return (f"aws cloudformation describe-stacks --region {stack['region']} --stack-name {stack['name']} "
            f'--query "{query}" --output text')  # fmt: skip


def _quoted(name: str, value: str) -> str:
    if value == DISTRIBUTION_VARIABLE:
        return f'{name}="{value}"'
    return shlex.quote(f"{name}={value}")


def deploy_script(steps: dict[str, Any]) -> str:
    """``plan`` as the aws commands that deploy it (idempotent: run it again to update)."""
    lines = ["#!/bin/sh", "# Deploys or updates Tachyon Edge (tachyon-edge package-stack; docs/deploy.md).",
             "set -eu", 'cd "$(dirname "$0")"']  # fmt: skip
    for upload in steps["uploads"]:
        lines.append(
            f"aws s3 cp {upload['file']} s3://{upload['bucket']}/{upload['key']} --region {upload['region']}"
        )
    edge, regional = steps["stacks"]
    for stack in (edge, regional):
        if stack is regional:
            lines.append(f"DISTRIBUTION_ID=$({_output(edge, 'DistributionId')})")
        overrides = " ".join(_quoted(k, v) for k, v in stack["parameters"].items())
        lines.append(
            f"aws cloudformation deploy --region {stack['region']} --stack-name {stack['name']} "
            f"--template-file {stack['template']} --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset "
            f"--parameter-overrides {overrides}"
        )
    lines.append(f'echo "CDN: https://$({_output(edge, "DistributionDomainName")})/"')
    return "\n".join(lines) + "\n"


def teardown_script(steps: dict[str, Any]) -> str:
    """Delete both stacks. The bucket (and every original in it) is kept."""
    edge, regional = steps["stacks"]
    lines = ["#!/bin/sh", "# Deletes both stacks; the media bucket is retained (docs/deploy.md).", "set -eu"]
    for stack in (regional, edge):
        where = f"--region {stack['region']} --stack-name {stack['name']}"
        lines += [
            f"aws cloudformation delete-stack {where}",
            f"aws cloudformation wait stack-delete-complete {where}",
        ]
    lines[-1] += (" || echo 'Lambda@Edge replicas are removed hours after the distribution: "
                  "run this script again later to delete the functions.'")  # fmt: skip
    return "\n".join(lines) + "\n"


def package(
    target: Target, out: Path, *, edge_zip: Path | None = None, purge_zip: Path | None = None
) -> Path:
    """Write the deployment folder ``out``; returns its deploy.sh."""
    if not (TEMPLATES / "edge.yaml").is_file() or not VIEWER_FUNCTION.is_file():
        raise PackageError(f"{TEMPLATES} or {VIEWER_FUNCTION} is missing: run it from a checkout")
    out.mkdir(parents=True, exist_ok=True)
    config = out / "tachyon.toml"
    config.write_text(edge_config(target))
    template = inline_viewer_function((TEMPLATES / "edge.yaml").read_text(), VIEWER_FUNCTION.read_text())
    (out / "edge.yaml").write_text(template)
    (out / "regional.yaml").write_text((TEMPLATES / "regional.yaml").read_text())
    from cli.lambda_zip import EDGE, PURGE, BuildError, build

    zips = {}
    for name, given, function, bundled in (
        ("edge", edge_zip, EDGE, config),
        ("purge", purge_zip, PURGE, None),
    ):
        path = out / f"{name}.zip"
        if given is not None:
            if given.resolve() != path.resolve():
                path.write_bytes(given.read_bytes())
        else:
            try:
                build(path, bundled, function=function)
            except BuildError as error:
                raise PackageError(str(error)) from None
        zips[name] = path
    steps = plan(target, out, zips["edge"], zips["purge"])
    (out / "plan.json").write_text(json.dumps(steps, indent=2) + "\n")
    deploy = out / "deploy.sh"
    deploy.write_text(deploy_script(steps))
    (out / "teardown.sh").write_text(teardown_script(steps))
    return deploy


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--parameter")
        out[name] = value
    return out


@click.command("package-stack")
@click.option("--bucket", required=True, help="The media bucket (created unless --existing-bucket).")
@click.option("--region", required=True, help="The bucket's region (queues, table, workers there too).")
@click.option("--account", required=True, help="The AWS account id (aws sts get-caller-identity).")
@click.option("--artefacts", required=True, help="An artefact bucket in --region, for the purge zip.")
@click.option(
    "--edge-artefacts", help="An artefact bucket in us-east-1 for the edge zip (default: --artefacts)."
)
@click.option("--existing-bucket", is_flag=True, help="Use an existing bucket instead of creating it.")
@click.option(
    "--originals-prefix", default="", help="The originals' key prefix (uploads/): S3 notifies for it only."
)
@click.option("--broker", type=click.Choice(["sqs", "redis"]), default="sqs", show_default=True)
@click.option("--broker-url", help="With --broker redis: the rediss:// URL bundled into the edge zip.")
@click.option(
    "--redis-secret-arn", default="", help="With --broker redis: the secret holding it, for workers."
)
@click.option("--alias", "aliases", multiple=True, help="A domain name of the distribution (repeatable).")
@click.option("--certificate-arn", default="", help="ACM certificate (us-east-1) covering the aliases.")
@click.option("--worker-image", default="", help="The pushed worker image; empty: no ECS workers.")
@click.option("--vpc", default="", help="VPC of the worker tasks.")
@click.option("--subnet", "subnets", multiple=True, help="A subnet of the worker tasks (repeatable).")
@click.option("--fallback-ttl", type=int, default=10, show_default=True, help="max-age of a queued original.")
@click.option("--auto-format", is_flag=True, help="AVIF/WebP from Accept (Accept joins the cache key).")
@click.option(
    "--stack-prefix", default="tachyon", show_default=True, help="Stacks are PREFIX-edge, PREFIX-regional."
)
@click.option("--parameter", "parameters", multiple=True, metavar="NAME=VALUE",
              help="Another template parameter (WorkerCpu=2048…), repeatable.")  # fmt: skip
@click.option("--edge-zip", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A prebuilt edge zip (built with --config OUTPUT/tachyon.toml).")  # fmt: skip
@click.option("--purge-zip", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A prebuilt purge zip instead of building.")  # fmt: skip
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/stack"),
              show_default=True)  # fmt: skip
def package_stack(**options: Any) -> None:
    """Build the zips and templates of a deployment and write the aws commands that deploy it."""
    output, edge_zip, purge_zip = options.pop("output"), options.pop("edge_zip"), options.pop("purge_zip")
    target = Target(
        bucket=options["bucket"], region=options["region"], account=options["account"],
        artefacts=options["artefacts"], edge_artefacts=options["edge_artefacts"] or options["artefacts"],
        stack_prefix=options["stack_prefix"], broker=options["broker"], broker_url=options["broker_url"],
        create_bucket=not options["existing_bucket"], originals_prefix=options["originals_prefix"],
        fallback_ttl=options["fallback_ttl"], auto_format=options["auto_format"],
        aliases=options["aliases"], certificate_arn=options["certificate_arn"],
        worker_image=options["worker_image"], vpc=options["vpc"], subnets=options["subnets"],
        redis_secret_arn=options["redis_secret_arn"], parameters=_pairs(options["parameters"]),
    )  # fmt: skip
    if target.aliases and not target.certificate_arn:
        raise PackageError("--alias needs --certificate-arn (an ACM certificate in us-east-1)")
    if target.worker_image and not (target.vpc and target.subnets):
        raise PackageError("--worker-image needs --vpc and at least one --subnet")
    deploy = package(target, output, edge_zip=edge_zip, purge_zip=purge_zip)
    click.echo(deploy.read_text(), nl=False)
    click.echo(f"# written to {deploy}; run: sh {deploy}", err=True)
