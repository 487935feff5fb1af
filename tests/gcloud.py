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
from pathlib import Path

import pytest

GCLOUD = shutil.which("gcloud")
needs_gcloud = pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI is not installed")


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
    return subprocess.run([GCLOUD, *args], capture_output=True, text=True, timeout=120,
                          env=gcloud_environment(config_dir, **extra))  # fmt: skip


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, dict]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append((self.path, body))
        answer = json.dumps({"job": {"id": "2026-01-01_00_00_00-1", "name": "recorded", "projectId": "p"}}).encode()
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
    recorded: list[tuple[str, dict]] = []
    handler = type("Recorder", (_Recorder,), {"requests": recorded})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = config_dir / "token"
    config_dir.mkdir(parents=True, exist_ok=True)
    token.write_text("dummy-token")
    environment = gcloud_environment(
        config_dir,
        CLOUDSDK_CORE_PROJECT="dummy-project",
        CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=str(token),
        CLOUDSDK_API_ENDPOINT_OVERRIDES_DATAFLOW=f"http://127.0.0.1:{server.server_address[1]}/",
    )
    try:
        yield environment, recorded
    finally:
        server.shutdown()
