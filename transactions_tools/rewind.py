"""``transacoes-rewind``: make the running job read its input again, from a time or a snapshot.

The input subscription keeps acknowledged messages for 7 days (``transacoes-provision``, the
Pulumi program and the runbook: :data:`transactions.retention.SUBSCRIPTION_RETENTION_DAYS`), so a
seek back makes Pub/Sub deliver again everything published since that time, acknowledged or not;
the running job reads it like new messages. That is how a fix is applied to data already
processed. It is safe because every cell carries its event time (the same cells are rewritten)
and the rollups count each transaction id once across writers (``docs/data-lifecycle.md``,
"Rewind").

    transacoes-rewind --subscription projects/P/subscriptions/S --to 2026-12-03T01:00:00Z
    transacoes-rewind --subscription projects/P/subscriptions/S --to -2h
    transacoes-rewind --subscription projects/P/subscriptions/S --snapshot NAME
    transacoes-rewind snapshot create NAME --subscription projects/P/subscriptions/S

``--to`` takes an RFC 3339 time (with ``Z`` or an offset) or a time back from now (``-90s``,
``-30m``, ``-2h``, ``-3d``). A time before the subscription's retention window, or in the future,
is refused before anything changes. ``snapshot create`` keeps the subscription's position (and
its unacknowledged messages) under ``NAME`` (an id, in the subscription's project, or
``projects/P/snapshots/NAME``): take one before every ``--update``; ``--snapshot NAME`` seeks
back to it.

Exit codes: 0 done; 2 bad options, no credentials, a time outside the retention window, or a
subscription that keeps no acknowledged messages; 3 Pub/Sub unreachable or failing, or the
subscription or snapshot missing (or the snapshot's name taken).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from transactions import resource_names, retention
from transactions.cli_errors import ArgumentParser, check_names, pubsub_existence_problem, run_against_google
from transactions.excerpt import excerpt
from transactions_wire import clients

__all__ = ["build_parser", "main", "parse_time"]

PROG = "transacoes-rewind"
_RELATIVE = re.compile(r"-([1-9][0-9]{0,6})([smhd])")
_SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_SNAPSHOT_PATH = re.compile(r"projects/([^/]+)/snapshots/([^/]+)")


class Refused(Exception):
    """The rewind would not do what was asked (exit code 2): say why, change nothing."""


class Unreachable(Exception):
    """Pub/Sub cannot be reached, or the subscription or snapshot does not exist (exit code 3)."""


def parse_time(text: str, now: datetime) -> datetime:
    """An RFC 3339 time (``Z`` or an offset; a fraction allowed), or ``-<n><s|m|h|d>`` back from
    ``now``, as an aware UTC time; ``argparse.ArgumentTypeError`` for anything else."""
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - timedelta(seconds=int(relative[1]) * _SECONDS_PER[relative[2]])
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", text):
        try:
            parsed = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.upper().replace("Z", "+00:00")))
        except ValueError:
            pass
        else:
            return parsed.astimezone(UTC)
    raise argparse.ArgumentTypeError(
        f"{excerpt(text)} is neither an RFC 3339 time (2026-12-03T01:00:00Z) nor a time back from now (-2h)"
    )


def snapshot_path(name: str, subscription: str) -> str:
    """``projects/P/snapshots/NAME`` of ``name``: as it is, or an id in ``subscription``'s project."""
    if _SNAPSHOT_PATH.fullmatch(name):
        return name
    project = subscription.split("/")[1]
    return f"projects/{project}/snapshots/{name}"


def _snapshot_name(text: str) -> str:
    """An argparse ``type``: a snapshot id, or its full path."""
    full = _SNAPSHOT_PATH.fullmatch(text)
    ok = (
        resource_names.is_valid("project", full[1]) and resource_names.is_valid("pubsub_id", full[2])
        if full
        else resource_names.is_valid("pubsub_id", text)
    )
    if not ok:
        raise argparse.ArgumentTypeError(
            f"{excerpt(text)} is not a snapshot: {resource_names.DESCRIPTIONS['pubsub_id']}, "
            "or projects/<project>/snapshots/<id>"
        )
    return text


@dataclass(frozen=True)
class Window:
    """What the subscription can be rewound over: from ``oldest`` to now."""

    retains_acked: bool
    retention: timedelta
    oldest: datetime


def window_of(subscription: Any, now: datetime) -> Window:
    """The retention window of a ``Subscription`` (Pub/Sub's default is 7 days when unset)."""
    duration = subscription.message_retention_duration
    kept = duration if duration else timedelta(days=retention.SUBSCRIPTION_RETENTION_DAYS)
    return Window(bool(subscription.retain_acked_messages), kept, now - kept)


def check_time(to: datetime, window: Window, now: datetime, subscription: str) -> None:
    """Raise :class:`Refused` if seeking ``subscription`` to ``to`` cannot deliver what it promises."""
    if not window.retains_acked:
        raise Refused(
            f"{subscription} keeps no acknowledged messages, so a seek back redelivers nothing the job has "
            "read; run transacoes-provision (it sets retain_acked_messages) and rewind later"
        )
    if to < window.oldest:
        raise Refused(
            f"{_iso(to)} is before {subscription}'s retention window: it keeps messages "
            f"{_days(window.retention)} (since {_iso(window.oldest)}); pick a later time or a snapshot"
        )
    if to > now + timedelta(seconds=1):
        raise Refused(f"{_iso(to)} is in the future: a seek there would acknowledge messages nobody has read")


def seek_to_time(subscriber: Any, subscription: str, to: datetime, now: datetime) -> str:
    found = _get_subscription(subscriber, subscription)
    if found is None:  # there, but this account may not read its settings (roles/pubsub.viewer)
        raise Refused(
            f"cannot read {subscription}'s retention (permission denied on pubsub.subscriptions.get): "
            "a seek to a time is checked against it first; grant roles/pubsub.viewer on the subscription"
        )
    window = window_of(found, now)
    check_time(to, window, now, subscription)
    subscriber.seek(request={"subscription": subscription, "time": to})
    return f"rewound {subscription} to {_iso(to)}: every message published since is delivered again"


def seek_to_snapshot(subscriber: Any, subscription: str, snapshot: str) -> str:
    _get_subscription(subscriber, subscription)
    _must_exist(f"snapshot {snapshot}", lambda: subscriber.get_snapshot(snapshot=snapshot, timeout=10, retry=None))
    subscriber.seek(request={"subscription": subscription, "snapshot": snapshot})
    return f"rewound {subscription} to snapshot {snapshot}: what was unacknowledged then is delivered again"


def create_snapshot(subscriber: Any, subscription: str, snapshot: str) -> str:
    _get_subscription(subscriber, subscription)
    created = subscriber.create_snapshot(request={"name": snapshot, "subscription": subscription})
    expires = created.expire_time
    until = f" (expires {_iso(expires.astimezone(UTC))})" if expires else ""
    return f"created snapshot {snapshot} of {subscription}{until}"


def _get_subscription(subscriber: Any, subscription: str) -> Any:
    found: list[Any] = []
    _must_exist(
        f"subscription {subscription}",
        lambda: found.append(subscriber.get_subscription(subscription=subscription, timeout=10, retry=None)),
    )
    return found[0] if found else None


def _must_exist(what: str, get: Callable[[], object]) -> None:
    problem = pubsub_existence_problem(what, get)
    if problem:
        raise Unreachable(problem)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(span: timedelta) -> str:
    return f"{span.days} days" if span == timedelta(days=span.days) else f"{int(span.total_seconds())} s"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n")[0],
        epilog="also: transacoes-rewind snapshot create NAME --subscription S ('transacoes-rewind snapshot --help')",
    )
    parser.add_argument("--subscription", required=True, help="projects/<project>/subscriptions/<input subscription>")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", help="an RFC 3339 time (2026-12-03T01:00:00Z) or a time back from now (-2h, -30m, -1d)")
    where.add_argument("--snapshot", type=_snapshot_name, help="a snapshot's id (or projects/P/snapshots/ID)")
    return parser


def build_snapshot_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=f"{PROG} snapshot", description="Take a snapshot of the subscription's position.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    create = commands.add_parser("create", help="keep the subscription's position under NAME")
    create.add_argument("name", type=_snapshot_name, help="a snapshot id (or projects/P/snapshots/ID)")
    create.add_argument("--subscription", required=True, help="projects/<project>/subscriptions/<input subscription>")
    return parser


def _joined(argv: list[str]) -> list[str]:
    """``--to -2h`` as ``--to=-2h``: argparse takes a value starting with ``-`` for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--to" and _RELATIVE.fullmatch(arg):
            joined[-1] = f"--to={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    argv = _joined(sys.argv[1:] if argv is None else argv)
    parser = build_snapshot_parser() if argv[:1] == ["snapshot"] else build_parser()
    args = parser.parse_args(argv[1:] if argv[:1] == ["snapshot"] else argv)
    check_names(parser, args, (("subscription", "subscription"),))
    started = now()
    to = started
    if getattr(args, "to", None) is not None:
        try:
            to = parse_time(args.to, started)
        except argparse.ArgumentTypeError as error:
            parser.error(f"--to: {error}")

    def act() -> int:
        with clients.pubsub_subscriber() as subscriber:
            if argv[:1] == ["snapshot"]:
                said = create_snapshot(subscriber, args.subscription, snapshot_path(args.name, args.subscription))
            elif args.snapshot is not None:
                said = seek_to_snapshot(subscriber, args.subscription, snapshot_path(args.snapshot, args.subscription))
            else:
                said = seek_to_time(subscriber, args.subscription, to, started)
        print(said)
        return 0

    try:
        return run_against_google(act, "Pub/Sub", 3)
    except Refused as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except Unreachable as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
