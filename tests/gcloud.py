"""Run the real Google Cloud CLI offline: its own config folder, a dummy token, and a local
stand-in for the Dataflow API that records each request body, so a test can see exactly what
gcloud would send for a command (flags parsed, parameters merged) without a project."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

GCLOUD = shutil.which("gcloud")
needs_gcloud = pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI is not installed")


def gcloud() -> str:
    """The CLI's path (a test that runs it is marked ``needs_gcloud``)."""
    assert GCLOUD is not None, "the Google Cloud CLI is not installed"
    return GCLOUD


def gcloud_environment(config_dir: Path, **extra: str) -> dict[str, str]:
    """An environment in which gcloud uses its own config folder and never phones home."""
    config_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(config_dir),
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        **extra,
    }


def run_gcloud(args: list[str], config_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([gcloud(), *args], capture_output=True, text=True, timeout=120,
                          env=gcloud_environment(config_dir, **extra))  # fmt: skip


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, dict]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append((self.path, body))
        if "flexTemplates" in self.path:
            answer = json.dumps({"job": {"id": "2026-01-01_00_00_00-1", "name": "recorded", "projectId": "p"}}).encode()
        else:  # a create call: the service answers with the resource it made
            answer = json.dumps({**body, "name": "projects/dummy-project/recorded/1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def fake_dataflow(config_dir: Path):
    """(environment for gcloud pointing the Dataflow API at a local recorder, recorded requests)."""
    with fake_google_api(config_dir, "dataflow") as faked:
        yield faked


@contextlib.contextmanager
def fake_google_api(config_dir: Path, api: str):
    """(environment for gcloud pointing ``api`` at a local recorder, recorded requests)."""
    recorded: list[tuple[str, dict]] = []
    handler = type("Recorder", (_Recorder,), {"requests": recorded})
    with serving(config_dir, handler, api) as environment:
        yield environment, recorded


@contextlib.contextmanager
def serving(
    config_dir: Path, handler: type[http.server.BaseHTTPRequestHandler], *apis: str
) -> Iterator[dict[str, str]]:
    """An environment for gcloud (a dummy token and project) whose ``apis`` are answered by
    ``handler`` on a local HTTP server, which stops on the way out."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config_dir.mkdir(parents=True, exist_ok=True)
    token = config_dir / "token"
    token.write_text("dummy-token")
    address = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield gcloud_environment(
            config_dir,
            CLOUDSDK_CORE_PROJECT="dummy-project",
            CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=str(token),
            **{f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}": address for api in apis},
        )
    finally:
        server.shutdown()


_UNKNOWN_FIELDS = """
import json, sys
from apitools.base.py import encoding
from apitools.base.protorpclite import messages
from googlecloudsdk.generated_clients.apis.monitoring.v1 import monitoring_v1_messages as v1
from googlecloudsdk.generated_clients.apis.monitoring.v3 import monitoring_v3_messages as v3
from googlecloudsdk.generated_clients.apis.dataflow.v1b3 import dataflow_v1b3_messages as dataflow

def unknown(message, path):
    found = [path + "." + name for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        value = message.get_assigned_value(field.name)
        if isinstance(field, messages.MessageField) and value is not None:
            for i, item in enumerate(value if field.repeated else [value]):
                found += unknown(item, path + "." + field.name + ("[%d]" % i if field.repeated else ""))
    return found

kind, path = sys.argv[1], sys.argv[2]
message_type = {
    "dashboard": v1.Dashboard, "alert_policy": v3.AlertPolicy, "flex_template_spec": dataflow.ContainerSpec
}[kind]
print(json.dumps(unknown(encoding.PyValueToMessage(message_type, json.load(open(path))), "$")))
"""


def unknown_fields(kind: str, path: Path) -> list[str]:
    """Fields of a JSON artefact that gcloud's own generated API messages do not know (``kind``:
    ``dashboard`` for monitoring v1, ``alert_policy`` for v3, ``flex_template_spec`` for a Flex
    Template spec, Dataflow v1b3's ``ContainerSpec``), read with gcloud's own Python."""
    info = subprocess.run([gcloud(), "info", "--format=value(basic.python_location,installation.sdk_root)"],
                          capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    python, sdk_root = info[0], info[1]
    done = subprocess.run([python, "-c", _UNKNOWN_FIELDS, kind, str(path)], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{sdk_root}/lib:{sdk_root}/lib/third_party", "PATH": os.environ["PATH"]})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
