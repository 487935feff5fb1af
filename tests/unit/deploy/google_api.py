"""A local stand-in for any Google API that gcloud can be pointed at, answering reads too.

``tests.gcloud.fake_google_api`` records the bodies of create calls; the commands checked here also
read (``describe``), so this one records every request's method, path and body, and answers a
read with the resource it names and a create with what was sent, plus the server-made fields
gcloud's printers expect (``name``, ``id``). Nothing leaves the machine: gcloud runs with its own
config folder, a dummy token and ``CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>`` pointing here.
"""

from __future__ import annotations

import contextlib
import http.server
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.gcloud import serving


@dataclass
class Recorded:
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    answers: dict[str, dict] = field(default_factory=dict)
    """Path (without the query) -> the body a read of it answers, when a test sets one."""


def _handler(recorded: Recorded) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            recorded.requests.append((method, self.path, body))
            path = self.path.split("?")[0]
            resource = path.removeprefix("/").split("/", 1)[-1]  # without the API version
            answer = recorded.answers.get(path) or {"name": resource, **body, "id": "recorded-1"}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PATCH(self) -> None:
            self._answer("PATCH")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def google_api(config_dir: Path, *apis: str) -> Iterator[tuple[dict[str, str], Recorded]]:
    """(environment for gcloud pointing each of ``apis`` at a local recorder, what it recorded)."""
    recorded = Recorded()
    with serving(config_dir, _handler(recorded), *apis) as environment:
        yield environment, recorded
