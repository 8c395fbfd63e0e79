"""Both stacks deployed into moto's CloudFormation over HTTP, in the order and with the
parameters of the ``plan.json`` that ``deploy.sh`` runs, and the resources moto creates read
back with the properties the edge, the worker and the purge function read (docs/deploy.md,
"What is checked"). What moto cannot create is checked in tests/test_stack.py.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from core.jobs import DEAD_LETTER_SUFFIX, EVENTS_QUEUE, QUEUES, sqs_queue_name
from core.jobtable import KEY, TTL_ATTRIBUTE
from tests.cfn import (
    ACCOUNT,
    MOTO_CANNOT_CREATE,
    REGION,
    REGION2,
    ROOT,
    TEMPLATES,
    apply,
    aws,
    load,
    moto_cannot_create,
    package,
    resolve,
    stack_resources,
)

# ---------------------------------------------------------------- deployed into moto


@pytest.fixture(scope="module")
def moto_endpoint(s3_endpoint: str) -> str:
    """The session's moto server: one process's moto servers share their backends anyway, and
    CloudFormation creates resources of every service and region in them. Names here (bucket
    media-example, queues tachyon-*) are not used by other tests."""
    return s3_endpoint


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
    s3.put_object(Bucket="media-example", Key="_derivatives/uploads/a.jpg/w300_q82.r4.jpg", Body=b"d")
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
    # the supervised worker (restarts Celery when it exits on its own: docs/worker.md, "Faults")
    assert all(command[:2] == ["tachyon-edge", "worker"] for command in commands.values())
    assert commands["LiveTaskDefinition"][-2:] == ["derivatives", "--loglevel=INFO"]
    assert commands["BatchTaskDefinition"][-2:] == ["batch", "--loglevel=INFO"]


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
    s3.put_object(Bucket="media-redis", Key="_derivatives/2018/a.jpg/w300_q82.r4.jpg", Body=b"d")
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
