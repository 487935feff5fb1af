"""Background processes in their own process groups: output to a log, and stopped with their
whole group, children included. Real, short-lived local processes (``python -c``); no network."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from transactions_tools.local import processes


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_a_process_writes_both_streams_to_its_log_in_a_group_of_its_own(tmp_path):
    log = tmp_path / "out.log"
    log.write_text("earlier\n")
    code = "import os, sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); print(os.getpgid(0))"
    process = processes.spawn([sys.executable, "-c", code], log)
    assert process.wait(timeout=30) == 0
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier"  # appended by default
    assert sorted(lines[1:3]) == ["err", "out"]
    assert lines[3] == str(process.pid)  # its own process group, led by itself
    again = processes.spawn([sys.executable, "-c", "print('only')"], log, append=False)
    again.wait(timeout=30)
    assert log.read_text() == "only\n"


def test_stop_ends_the_whole_group_even_what_ignores_sigterm(tmp_path):
    """A child that ignores SIGTERM (as a JVM under gcloud may take its time) is killed after the grace."""
    code = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(\"ready\", flush=True); time.sleep(60)'])\n"
        "print(f'pid={child.pid}', flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "group.log"
    parent = processes.spawn([sys.executable, "-c", code], log)
    deadline = time.monotonic() + 30
    while len(log.read_text().split()) < 2 and time.monotonic() < deadline:  # "ready": SIGTERM ignored
        time.sleep(0.05)
    [child_pid] = [int(word[4:]) for word in log.read_text().split() if word.startswith("pid=")]
    assert alive(parent.pid) and alive(child_pid)
    started = time.monotonic()
    processes.stop([parent, None], grace_seconds=0.5)
    assert time.monotonic() - started < 10
    assert parent.poll() is not None
    deadline = time.monotonic() + 10
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child_pid)


def test_stopping_what_already_ended_is_no_error(tmp_path):
    process = processes.spawn([sys.executable, "-c", "pass"], tmp_path / "log")
    process.wait(timeout=30)
    processes.stop([process], grace_seconds=0.1)
    assert process.returncode == 0
    assert isinstance(process, subprocess.Popen)


def test_a_leader_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    process = processes.spawn([sys.executable, "-c", code], log)
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    processes.stop([process], grace_seconds=0.5)
    assert 0.4 <= time.monotonic() - started < 10
    assert process.returncode == -9  # SIGKILL
