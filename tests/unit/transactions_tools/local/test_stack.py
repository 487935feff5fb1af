"""The local stack's record of what ``make up`` started: finding it again, stopping exactly it,
and a job that dies in its warm-up.

The record lives in a folder of the test's own (``STATE_DIR``); the processes are real,
short-lived local ones (``python -c``), and the job is one too (``pipeline_command`` replaced),
so no emulator is started. ``make up``/``make down`` on the real emulators are
``tests/integration/test_stack.py``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from transactions_tools.local import processes, stack
from transactions_tools.local.commands import local_resources
from transactions_tools.local.emulators import Emulators, StackError


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stack, "STATE_DIR", tmp_path)
    return tmp_path


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def record(state_dir: Path, recorded: list[dict[str, object]]) -> None:
    resources = local_resources()
    state = {
        "pubsub_host": "127.0.0.1:8085",
        "bigtable_host": "127.0.0.1:8086",
        "project": "local-project",
        "resources": resources.__dict__,
        "pipeline_log": "/tmp/pipeline.log",
        "processes": recorded,
    }
    (state_dir / "state.json").write_text(json.dumps(state))
    (state_dir / "env").write_text("export PUBSUB_EMULATOR_HOST=127.0.0.1:8085\n")


def test_nothing_recorded_is_no_stack(state_dir, capsys):
    assert stack.attached() is None
    assert stack.status() == 1
    assert stack.down() == 0
    assert capsys.readouterr().out == f"down\nno stack is up (nothing recorded in {state_dir / 'state.json'} )\n"


def test_a_stack_whose_processes_are_all_there_is_found_again(state_dir, capsys):
    record(state_dir, [{"pid": os.getpid(), "cmdline": cmdline(os.getpid())}])
    found = stack.attached()
    assert found is not None
    assert found.emulators == Emulators("127.0.0.1:8085", "127.0.0.1:8086", "local-project")
    assert found.resources == local_resources()
    assert found.pipeline_log == Path("/tmp/pipeline.log")
    assert found.environment()["BIGTABLE_EMULATOR_HOST"] == "127.0.0.1:8086"
    assert stack.status() == 0
    assert capsys.readouterr().out == "up: Pub/Sub 127.0.0.1:8085, Bigtable 127.0.0.1:8086\n"


def test_a_pid_now_running_something_else_is_not_the_stack(state_dir):
    record(state_dir, [{"pid": os.getpid(), "cmdline": "gcloud beta emulators pubsub start"}])
    assert stack.attached() is None


def test_down_stops_exactly_what_was_recorded_and_forgets_it(state_dir, tmp_path, capsys):
    ours = processes.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "ours.log")
    # make up's processes are not make down's children: once stopped, they are gone. This test's
    # are its own, so one is reaped as soon as it ends, or make down would wait out its grace.
    threading.Thread(target=ours.wait, daemon=True).start()
    other = processes.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "other.log")
    try:
        record(
            state_dir,
            [
                {"pid": ours.pid, "cmdline": cmdline(ours.pid)},
                {"pid": other.pid, "cmdline": "a process make up started, long gone; its pid reused"},
            ],
        )
        assert stack.down() == 0
        assert ours.wait(timeout=10) is not None
        assert other.poll() is None  # not ours any more: left alone
        assert not (state_dir / "state.json").exists() and not (state_dir / "env").exists()
        assert capsys.readouterr().out == "stack down: stopped 1 process groups\n"
    finally:
        processes.stop([ours, other], grace_seconds=1)


def test_a_job_that_exits_in_its_warm_up_is_reported_with_its_log(monkeypatch, tmp_path):
    code = "import sys; print('error: --bigtable_table: missing'); sys.exit(2)"
    monkeypatch.setattr(stack, "pipeline_command", lambda resources, *extra: [sys.executable, "-c", code])
    with pytest.raises(StackError) as caught:
        stack.start_pipeline(local_resources(), tmp_path / "pipeline.log", dict(os.environ), warmup=30)
    assert str(caught.value) == "the pipeline exited with 2:\nerror: --bigtable_table: missing"


def test_a_job_that_lives_through_its_warm_up_is_handed_back(monkeypatch, tmp_path):
    monkeypatch.setattr(
        stack, "pipeline_command", lambda resources, *extra: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    job = stack.start_pipeline(local_resources(), tmp_path / "pipeline.log", dict(os.environ), warmup=0.3)
    try:
        assert job.poll() is None
    finally:
        processes.stop([job], grace_seconds=1)


def test_tail_is_the_last_lines(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(30)) + b"\xff end\n")
    assert stack.tail(log, 3) == "line 28\nline 29\n\ufffd end"
    assert len(stack.tail(log).splitlines()) == 25
