"""Hostile input at the dead-letter tool's door: whatever can sit on a dead-letter subscription.

One subscription on the emulator holds, at once:

| case                                   | inspect                         | replay (--stage write)                  |
|----------------------------------------|---------------------------------|-----------------------------------------|
| a 9.5 MB dead letter                   | counted; data shown as an       | replayed (republished whole)            |
|                                        | excerpt of 120 characters       |                                         |
| a backlog of 50 dead letters of 100 KB | counted                         | replayed                                |
| no attributes at all                   | counted under ``?/?``           | left (matches no --stage)               |
| an unknown stage with ESC in it        | counted, the stage escaped      | left                                    |
| non-UTF-8 data                         | counted; ``\\xNN`` in the sample| replayed (bytes unchanged)              |
| replay_count "abc", "-1", "99999999999"| counted                         | refused, listed, never reset            |

Both commands exit 0 and print no traceback and no raw control character; ``inspect`` consumes
nothing (everything is there for ``replay`` right after); ``replay`` acknowledges exactly what it
republished, and what it refused or left stays on the subscription.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.integration.harness import provision_for_test, pull_messages
from transactions.dead_letters import dead_letter

pytestmark = pytest.mark.integration

BIG = 9_500_000
BACKLOG = 50


def tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "transactions_tools.triage", *args],
        capture_output=True,
        timeout=300,
        env=os.environ.copy(),
    )


def _clean(output: bytes) -> str:
    text = output.decode()
    assert "Traceback" not in text
    assert not any(ord(c) < 32 and c != "\n" for c in text), text[:500]
    return text


def _write_letter(number: int, size: int, **attrs: str):
    letter = dead_letter(b"x" * size, {"transaction_id": f"t{number}", **attrs}, "write", "bigtable_not_found", "gone")
    return letter.data, letter.attributes


def test_inspect_and_replay_handle_anything_on_the_subscription(emulators, unique):
    from google.cloud import pubsub_v1

    resources = provision_for_test(unique)
    dead_topic = resources.topic_path(resources.dead_letter_topic)
    subscription = resources.subscription_path(resources.dead_letter_subscription)
    publisher = pubsub_v1.PublisherClient()
    messages = [(b"x" * BIG, _write_letter(0, 0)[1])]  # bigger than the pipeline makes: Pub/Sub allows 10 MB
    messages += [_write_letter(n, 100_000) for n in range(1, BACKLOG + 1)]
    messages += [
        (b"no attributes at all", {}),
        (b"odd stage", {"error_stage": "\x1b[31mevil", "error_reason": "x\x07"}),
        (b"\xff\xfe not utf-8 \x1b[2J", {**_write_letter(90, 0)[1], "error_reason": "bigtable_invalid_argument"}),
        *(
            (f"forged {count}".encode(), {**_write_letter(91 + i, 0)[1], "replay_count": count})
            for i, count in enumerate(("abc", "-1", "99999999999"))
        ),
    ]
    for data, attributes in messages:
        publisher.publish(dead_topic, data, **attributes).result(timeout=60)
    total = len(messages)

    done = tool("inspect", "--subscription", subscription, "--json")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    _clean(done.stderr)
    summary = json.loads(_clean(done.stdout))
    assert summary["pulled"] == total
    assert summary["by_stage_and_reason"]["write/bigtable_not_found"] == 1 + BACKLOG + 3
    assert summary["by_stage_and_reason"]["write/bigtable_invalid_argument"] == 1
    assert summary["by_stage_and_reason"]["?/?"] == 1
    assert summary["by_stage_and_reason"]["\\x1b[31mevil/x\\x07"] == 1
    big_sample = summary["samples"]["write/bigtable_not_found"][0]["data"]
    assert big_sample.endswith(f"...' ({BIG} bytes)") and len(big_sample) < 200

    done = tool("inspect", "--subscription", subscription)  # the text form, the same messages still there
    assert done.returncode == 0
    text = _clean(done.stdout)
    assert text.startswith(f"{total} dead letters on {subscription}")
    assert "\\xff\\xfe not utf-8 \\x1b[2J" in text

    done = tool(
        "replay", "--subscription", subscription, "--topic", resources.topic_path(resources.topic), "--stage", "write"
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = _clean(done.stdout)
    assert f"pulled {total} dead letters" in report
    assert f"replayed      {1 + BACKLOG + 1:>6}" in report
    assert "left               2" in report and "refused            3" in report
    for forged in ("'abc'", "'-1'", "'99999999999'"):
        assert f"replay_count {forged} is not a non-negative integer" in report

    input_subscription = resources.subscription_path(resources.subscription)
    republished = pull_messages(input_subscription, 1 + BACKLOG + 1, timeout=60)
    assert pull_messages(input_subscription, 1, timeout=3) == []
    assert sorted(len(m.data) for m in republished)[-1] == BIG
    assert len(republished) == 1 + BACKLOG + 1
    assert b"\xff\xfe not utf-8 \x1b[2J" in {m.data for m in republished}
    assert {m.attributes.get("replay_count") for m in republished} == {"1"}
    kept = pull_messages(subscription, 5, timeout=30)
    assert pull_messages(subscription, 1, timeout=3) == []
    assert sorted(m.data for m in kept) == sorted(
        [b"no attributes at all", b"odd stage", b"forged abc", b"forged -1", b"forged 99999999999"]
    )
    assert {m.attributes.get("replay_count") for m in kept if m.data.startswith(b"forged")} == {
        "abc",
        "-1",
        "99999999999",
    }
