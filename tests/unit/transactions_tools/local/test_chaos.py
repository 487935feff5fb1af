"""``make chaos``: which faults it injects, how it judges the run, and what it refuses.

The run itself (emulators, the job, the producer, the proxy) is ``tests/integration/test_chaos_emulator.py``.
Here the proxy and the observer are stand-ins that record the faults asked for and hold scripted
counts: the verdict is a pure function of those, and that is what is checked, line by line.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import grpc
import pytest

from tests.output import one_clean_line
from transactions_tools.local import chaos
from transactions_tools.local import observer as local_observer
from transactions_tools.local.fault_proxy import READ_ROWS, Fault, FaultProxy


@dataclass
class Proxy:
    stats: Counter[str] = field(default_factory=Counter)
    injected: list[tuple[Fault, float]] = field(default_factory=list)

    def inject(self, fault: Fault, seconds: float) -> None:
        self.injected.append((fault, seconds))


@dataclass
class Observer:
    written: int
    dead_letters: Counter[str]
    closed: bool = False

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def close(self) -> None:
        self.closed = True


def inject(proxy: Proxy, seconds: float, read_faults: bool, read_seconds: float) -> None:
    """``chaos._inject`` on the stand-in proxy, cast once to the proxy it takes."""
    chaos._inject(cast(FaultProxy, proxy), seconds, read_faults=read_faults, read_seconds=read_seconds)


def report(
    args: argparse.Namespace, proxy: Proxy, observer: Observer, running: bool, audit: tuple[int, list[str]] | None
) -> int:
    """``chaos._report`` on the stand-ins, cast once to the proxy and observer it takes."""
    return chaos._report(
        args, cast(FaultProxy, proxy), cast(local_observer.Observer, observer), running=running, audit=audit
    )


def args(messages: int = 10, read_faults: bool = False) -> argparse.Namespace:
    return argparse.Namespace(messages=messages, log_dir=Path(".local/logs/chaos"), read_faults=read_faults)


def test_while_the_job_writes_a_share_of_entries_is_refused_and_streams_are_cut(capsys):
    proxy = Proxy()
    inject(proxy, 20.0, read_faults=False, read_seconds=140.0)
    assert proxy.injected == [
        (Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.3), 20.0),
        (Fault("cut", share=0.5), 20.0),
    ]
    assert capsys.readouterr().out.startswith("the job is writing; injecting for 20s: 30% of the entries")


def test_with_read_faults_the_rollups_reads_are_refused_or_cut_too():
    proxy = Proxy()
    inject(proxy, 20.0, read_faults=True, read_seconds=140.0)
    reads = frozenset({READ_ROWS})
    assert proxy.injected[2:] == [  # until the end: the local runner fires the windows late
        (Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=0.5, methods=reads), 140.0),
        (Fault("cut", share=0.5, methods=reads), 140.0),
    ]


def test_every_row_written_or_dead_lettered_for_its_data_is_ok(capsys):
    proxy = Proxy(Counter({"entries failed UNAVAILABLE": 12, "streams cut": 3, "calls": 40}))
    observer = Observer(8, Counter({"validate/bad_price": 2}))
    assert report(args(), proxy, observer, running=True, audit=None) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:7] == [
        "injected",
        "  entries refused UNAVAILABLE (not applied)   12",
        "  response streams cut                        3",
        "  entries applied but left unanswered         0",
        "  whole calls refused UNAVAILABLE             0",
        "  calls through the proxy                     40",
    ]
    assert out[7:] == [
        "result",
        "  published       10",
        "  written         8 rows",
        "  dead-lettered   2  {'validate/bad_price': 2}",
        "  the job         still running",
        "OK: every valid row written, no write dead letter; logs in .local/logs/chaos",
    ]
    assert observer.closed


@pytest.mark.parametrize(
    ("written", "dead_letters", "running"),
    [
        (9, Counter({"write/bigtable_unavailable": 1}), True),  # a busy cluster must never dead-letter a row
        (9, Counter(), True),  # one message unaccounted for
        (10, Counter(), False),  # the job died
    ],
)
def test_a_write_dead_letter_a_lost_message_or_a_dead_job_fails(written, dead_letters, running, capsys):
    assert report(args(), Proxy(), Observer(written, dead_letters), running, audit=None) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "FAILED; logs in .local/logs/chaos"


@pytest.mark.parametrize(
    ("audit", "code", "says"),
    [
        ((12, []), 0, ["  rollups         12 of 12 windows equal to the rows' totals"]),
        (
            (12, ["category#Books#202512052113: count 3, the rows say 4"]),
            1,
            [
                "  rollups         11 of 12 windows equal to the rows' totals",
                "    category#Books#202512052113: count 3, the rows say 4",
            ],
        ),
    ],
)
def test_with_read_faults_every_rollup_must_equal_the_rows_totals(audit, code, says, capsys):
    observer = Observer(10, Counter())
    assert report(args(read_faults=True), Proxy(), observer, running=True, audit=audit) == code
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("  rollups"))
    assert out[start : start + len(says)] == says


def test_with_read_faults_a_job_that_died_has_no_rollups_to_trust(capsys):
    assert report(args(read_faults=True), Proxy(), Observer(10, Counter()), running=False, audit=None) == 1
    out = capsys.readouterr().out.splitlines()
    assert "  rollups         not audited: the job is not running" in out
    assert out[-1] == "FAILED; logs in .local/logs/chaos"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--messages", "0"], "--messages: '0' is not a whole number from 1 to 100000"),
        (["--rate", "nan"], "--rate: 'nan' is not a finite number"),
        (["--timeout", "5"], "--timeout: '5' is not a finite number from 10 to 3600"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(argv, says, capsys, monkeypatch):
    monkeypatch.setattr(chaos, "run", lambda parsed: pytest.fail("ran"))
    with pytest.raises(SystemExit) as stop:
        chaos.main(argv)
    assert stop.value.code == 2
    assert says in one_clean_line(capsys.readouterr().err, 300)


def test_a_missing_emulator_is_one_line_and_exit_3(capsys, monkeypatch):
    def missing(parsed: argparse.Namespace) -> int:
        raise chaos.StackError("the Google Cloud CLI (gcloud) is not on PATH")

    monkeypatch.setattr(chaos, "run", missing)
    assert chaos.main([]) == 3
    assert one_clean_line(capsys.readouterr().err, 300) == "error: the Google Cloud CLI (gcloud) is not on PATH"
