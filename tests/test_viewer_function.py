"""The viewer-request CloudFront Function (edge/viewer/function.js) run under node as CloudFront's
runtime would, on CloudFront's documented event, and its request fed to the Python edge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.cfn import ROOT

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
