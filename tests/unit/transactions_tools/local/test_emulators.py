"""Finding, reusing and starting the emulators, and what is said when something is missing.

The Google Cloud CLI and Java are stand-ins: small scripts on a ``PATH`` of the test's own
(``gcloud`` answering ``info`` with a scripted SDK root, or failing as an emulator that cannot
start), so each refusal is checked exactly without the SDK. The real emulators started and
stopped are every integration test's fixture (``tests/conftest.py``) and ``tests/integration/test_stack.py``.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from transactions_tools.local import emulators
from transactions_tools.local.emulators import Emulators, StackError


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An SDK root whose ``bin/gcloud`` says where it is installed; ``PATH`` holds only it."""
    root = tmp_path / "google-cloud-sdk"
    (root / "bin").mkdir(parents=True)
    script(root / "bin", "gcloud", f'[ "$1" = info ] && echo {root}\nexit 0')
    monkeypatch.setenv("PATH", str(root / "bin"))
    return root


def test_the_environment_that_points_the_clients_at_them():
    assert Emulators("127.0.0.1:1", "127.0.0.1:2").environment() == {
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:1",
        "BIGTABLE_EMULATOR_HOST": "127.0.0.1:2",
        "PUBSUB_PROJECT_ID": "local-project",
    }


def test_emulators_the_caller_points_at_need_both_variables(monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.delenv("BIGTABLE_EMULATOR_HOST", raising=False)
    assert emulators.from_environment() is None
    monkeypatch.setenv("BIGTABLE_EMULATOR_HOST", "127.0.0.1:2")
    monkeypatch.setenv("PUBSUB_PROJECT_ID", "other-project")
    assert emulators.from_environment() == Emulators("127.0.0.1:1", "127.0.0.1:2", "other-project")


def test_nothing_listening_where_the_environment_points_is_said_at_once(monkeypatch, tmp_path):
    port = emulators.free_port()  # free: nothing listens there
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("BIGTABLE_EMULATOR_HOST", f"127.0.0.1:{port}")
    monkeypatch.setattr(emulators, "start", lambda *args: pytest.fail("started emulators"))
    with pytest.raises(StackError) as caught, emulators.running(tmp_path):
        pass
    assert str(caught.value) == (
        f"nothing listens on 127.0.0.1:{port}, which the environment points at; "
        "unset PUBSUB_EMULATOR_HOST/BIGTABLE_EMULATOR_HOST to start fresh ones"
    )


def test_emulators_that_listen_are_reused_and_left_running(monkeypatch, tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        host = f"127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        monkeypatch.setenv("BIGTABLE_EMULATOR_HOST", host)
        monkeypatch.delenv("PUBSUB_PROJECT_ID", raising=False)
        monkeypatch.setattr(emulators, "start", lambda *args: pytest.fail("started emulators"))
        monkeypatch.setattr(emulators, "stop", lambda *args: pytest.fail("stopped emulators it did not start"))
        with emulators.running(tmp_path) as found:
            assert found == Emulators(host, host, "local-project")


def test_without_gcloud_it_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as caught:
        emulators.find_sdk_root()
    assert str(caught.value) == f"the Google Cloud CLI (gcloud) is not on PATH; {emulators.INSTALL_HINT}"


def test_without_the_emulator_components_it_names_them(sdk):
    with pytest.raises(StackError) as caught:
        emulators.find_sdk_root()
    assert str(caught.value) == (
        f"the Cloud CLI at {sdk} lacks pubsub-emulator, bigtable; "
        "run: gcloud components install beta pubsub-emulator bigtable cbt"
    )
    (sdk / "platform" / "bigtable-emulator").mkdir(parents=True)
    with pytest.raises(StackError, match="lacks pubsub-emulator; run"):
        emulators.find_sdk_root()


def test_without_java_it_says_so_and_with_everything_it_finds_the_root(sdk):
    for folder in ("pubsub-emulator", "bigtable-emulator"):
        (sdk / "platform" / folder).mkdir(parents=True)
    with pytest.raises(StackError) as caught:
        emulators.find_sdk_root()
    assert str(caught.value) == "the Pub/Sub emulator needs Java 8+ on PATH (apt-get install default-jre)"
    script(sdk / "bin", "java", "exit 0")
    assert emulators.find_sdk_root() == sdk


def test_an_emulator_that_exits_at_start_is_reported_with_its_log(sdk, tmp_path):
    for folder in ("pubsub-emulator", "bigtable-emulator"):
        (sdk / "platform" / folder).mkdir(parents=True)
    script(sdk / "bin", "java", "exit 0")
    script(sdk / "bin", "gcloud", f'[ "$1" = info ] && echo {sdk} && exit 0\necho "no port for $5" >&2\nexit 7')
    with pytest.raises(StackError) as caught:
        emulators.start(tmp_path / "logs")
    message = str(caught.value)
    assert message.startswith("the Pub/Sub emulator exited with 7:\nno port for --host-port=127.0.0.1:")
    assert (tmp_path / "logs" / "pubsub-emulator.log").exists()


def test_a_free_port_can_be_bound():
    port = emulators.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_run_needs_a_command(capsys):
    with pytest.raises(SystemExit) as stop:
        emulators.main(["run", "--"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith("error: give a command after --")
