"""``make demo``'s judgement: when a run is done, when it failed, and what the summary says.

The stack, the producer and the observer are stand-ins with scripted state (a producer that has
exited with a code, its log's report lines, the rows and dead letters seen): following a run and
summing it up are pure functions of those. The demo end to end on the emulators is
``tests/integration/test_demo.py``.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from tests.output import one_clean_line
from transactions_tools.local import demo
from transactions_tools.local import observer as local_observer
from transactions_tools.local import stack as local_stack


@dataclass
class Process:
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class Observer:
    written: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    polls: int = 0

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def poll(self) -> None:
        self.polls += 1


@dataclass
class Stack:
    pipeline: Process | None
    pipeline_log: Path | None = None


def follow(stack: Stack, producer: Process, observer: Observer, log_dir: Path, timeout: float) -> int:
    """``demo._follow`` on the stand-ins, cast once to the stack, producer and observer it takes."""
    return demo._follow(
        cast(local_stack.Stack, stack),
        cast(subprocess.Popen[bytes], producer),
        cast(local_observer.Observer, observer),
        log_dir,
        timeout=timeout,
    )


def summary(observer: Observer, published: int, elapsed: float, log_dir: Path) -> None:
    """``demo._summary`` on the stand-in observer, cast once to the observer it takes."""
    demo._summary(cast(local_observer.Observer, observer), published, elapsed, log_dir)


def producer_log(log_dir: Path, *published: int) -> None:
    lines = [f"published={n} failed=0 skipped=0 broken=0 rate=5/s" for n in published]
    (log_dir / "producer.log").write_text("\n".join(lines) + "\n")


def test_a_run_is_done_once_every_published_message_is_a_row_or_a_dead_letter(tmp_path, capsys):
    producer_log(tmp_path, 10, 40, 50)
    observer = Observer(written=48, dead_letters=Counter({"validate/bad_price": 2}))
    published = follow(Stack(Process()), Process(returncode=0), observer, tmp_path, timeout=60)
    assert (published, observer.polls) == (50, 1)
    assert capsys.readouterr().out == "  published    50  written    48  dead-lettered    2\n\n"


def test_a_job_that_died_ends_the_demo_with_its_last_lines(tmp_path):
    log = tmp_path / "pipeline.log"
    log.write_text("starting\nTraceback: boom\n")
    with pytest.raises(demo.DemoFailed) as caught:
        follow(Stack(Process(returncode=1), log), Process(), Observer(), tmp_path, timeout=60)
    assert str(caught.value) == "the pipeline died (exit 1); its last lines:\nstarting\nTraceback: boom"


def test_a_producer_that_failed_ends_the_demo_with_its_last_lines(tmp_path):
    (tmp_path / "producer.log").write_text("error: topic projects/p/topics/t does not exist\n")
    with pytest.raises(demo.DemoFailed) as caught:
        follow(Stack(None), Process(returncode=3), Observer(), tmp_path, timeout=60)
    assert str(caught.value) == "the producer failed (exit 3):\nerror: topic projects/p/topics/t does not exist"


def test_a_run_that_never_settles_times_out_saying_where_it_stood(tmp_path, capsys):
    with pytest.raises(demo.DemoFailed) as caught:
        follow(Stack(None), Process(), Observer(written=3), tmp_path, timeout=0)
    assert str(caught.value) == f"timed out after 0s: published None, written 3, dead-lettered 0; logs in {tmp_path}"


def test_the_summary(tmp_path, capsys):
    observer = Observer(written=8, dead_letters=Counter({"parse/invalid_json": 1, "validate/bad_price": 1}))
    observer.latencies = [0.5, 0.1, 0.3, 0.2, 0.4]
    summary(observer, 10, 4.0, tmp_path)
    assert capsys.readouterr().out.splitlines() == [
        "",
        "summary",
        "  published       10",
        "  written         8 rows",
        "  dead-lettered   2  {'parse/invalid_json': 1, 'validate/bad_price': 1} (stage/reason)",
        "  accounted for   10 of 10 (OK)",
        "  elapsed         4.0s (set-up included); 2 messages/s",
        "  freshness       event time -> row seen in Bigtable: p50 0.30s, p95 0.40s (the dashboard's "
        "write_freshness_ms; rows polled every second, and the local runner pulls 10 at a time)",
        f"  logs            {tmp_path}",
    ]


def test_a_summary_that_does_not_add_up_fails_the_demo(tmp_path, capsys):
    with pytest.raises(demo.DemoFailed, match="not every published message was accounted for"):
        summary(Observer(written=9), 10, 4.0, tmp_path)
    assert "  accounted for   9 of 10 (MISMATCH)" in capsys.readouterr().out.splitlines()


def test_a_failed_demo_exits_1_with_the_reason(monkeypatch, capsys):
    def failing(args: object) -> int:
        raise demo.DemoFailed("timed out after 150s")

    monkeypatch.setattr(demo, "run_demo", failing)
    monkeypatch.setattr(demo.signal, "signal", lambda *args: None)  # leave pytest's own SIGTERM alone
    assert demo.main([]) == 1
    assert one_clean_line(capsys.readouterr().err.lstrip("\n"), 200) == "error: timed out after 150s"


def test_a_bad_option_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(demo, "run_demo", lambda args: pytest.fail("ran"))
    with pytest.raises(SystemExit) as stop:
        demo.main(["--invalid-share", "1.5"])
    assert stop.value.code == 2
    assert "--invalid-share: '1.5' is not a finite number from 0 to 1" in one_clean_line(capsys.readouterr().err, 300)
