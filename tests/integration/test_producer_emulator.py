"""The producer against the real Pub/Sub emulator: exact messages, pacing, loop, resume, signals."""

import os
import re
import signal
import subprocess
import sys
import time

import orjson
import pytest

from tests.integration.harness import PROJECT, pull_messages
from tests.output import first_group

pytestmark = pytest.mark.integration

PUBLISH = frozenset({"/google.pubsub.v1.Publisher/Publish"})
HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"


@pytest.fixture
def topic(emulators, unique):
    from google.cloud import pubsub_v1

    topic = f"projects/{PROJECT}/topics/producer-{unique}"
    subscription = f"projects/{PROJECT}/subscriptions/producer-{unique}"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    pubsub_v1.SubscriberClient().create_subscription(name=subscription, topic=topic)
    return topic, subscription


def producer(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        **kwargs,
    )


def test_replay_of_a_small_csv(topic, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(
        HEADER + "\n02428050,P1,Books,332,10,298.8,UPI,05-12-2024\n"
        "98857e41,P2,Sports,244.8,15,208.08,Credit Card,29-02-2024\n"
        "bad,row\n"
        "00001,P3,Toys,10,0,10,UPI,31-02-2024\n"
    )
    result = producer("--csv", str(path), "--topic", topic[0], "--rate", "0", "--run-id", "t")
    assert result.returncode == 0, result.stderr
    assert "skipped sales.csv line 4: expected 8 columns, found 2" in result.stderr.replace(str(tmp_path) + "/", "")
    assert "line 5: Purchase_Date is not dd-mm-yyyy" in result.stderr
    assert "published=2 failed=0 skipped=2" in result.stderr
    messages = sorted(pull_messages(topic[1], 2), key=lambda m: m.attributes["transaction_id"])
    records = [orjson.loads(m.data) for m in messages]
    for record in records:
        assert record.pop("event_time").endswith("Z")
    assert records == [
        {
            "transaction_id": "t:0:2",
            "user_id": "02428050",
            "product_id": "P1",
            "category": "Books",
            "price": "332",
            "discount_pct": 10,
            "final_price": "298.8",
            "payment_method": "UPI",
            "purchase_date": "2024-12-05",
        },
        {
            "transaction_id": "t:0:3",
            "user_id": "98857e41",
            "product_id": "P2",
            "category": "Sports",
            "price": "244.8",
            "discount_pct": 15,
            "final_price": "208.08",
            "payment_method": "Credit Card",
            "purchase_date": "2024-02-29",
        },
    ]
    assert messages[0].attributes["event_time"] == orjson.loads(messages[0].data)["event_time"]
    assert pull_messages(topic[1], 1, timeout=2) == []


def test_rate_100_limit_300_takes_3_seconds(topic):
    started = time.monotonic()
    result = producer("--topic", topic[0], "--rate", "100", "--limit", "300", "--run-id", "pace")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    reported = float(result.stderr.split("elapsed=")[1].split("s")[0])
    assert 2.7 <= reported <= 3.3, result.stderr
    assert elapsed < 15
    assert len(pull_messages(topic[1], 300)) == 300


def test_loop_wraps_with_fresh_ids_and_start_line_resumes_without_gaps(topic, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + "\n" + "".join(f"u{i},P{i},Books,10,0,10,UPI,01-01-2024\n" for i in range(4)))
    assert (
        producer(
            "--csv", str(path), "--topic", topic[0], "--rate", "0", "--loop", "--limit", "10", "--run-id", "L"
        ).returncode
        == 0
    )
    first = producer("--csv", str(path), "--topic", topic[0], "--rate", "0", "--limit", "2", "--run-id", "R")
    assert "next_line=4" in first.stderr
    second = producer("--csv", str(path), "--topic", topic[0], "--rate", "0", "--start-line", "4", "--run-id", "R")
    assert second.returncode == 0
    ids = sorted(m.attributes["transaction_id"] for m in pull_messages(topic[1], 14))
    assert ids == sorted(
        [f"L:{p}:{line}" for p in range(3) for line in range(2, 6)][:10] + [f"R:0:{n}" for n in range(2, 6)]
    )


def test_sigterm_flushes_and_everything_reported_was_received(topic):
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", "--topic", topic[0], "--rate", "200", "--loop", "--run-id", "S"],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    time.sleep(4)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "summary (stopped by signal): published=" in stderr
    published = int(stderr.split("summary (stopped by signal): published=")[1].split()[0])
    assert published > 100
    received = pull_messages(topic[1], published, timeout=60)
    assert len({m.attributes["transaction_id"] for m in received}) == published
    assert pull_messages(topic[1], 1, timeout=2) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--topic", "projects/local-project/topics/missing-topic"],
            3,
            "error: topic projects/local-project/topics/missing-topic does not exist",
        ),
        (
            ["--topic", "transacoes"],
            2,
            "error: --topic: 'transacoes' is not projects/<project>/topics/<topic>",
        ),
        (
            ["--topic", "projects/local-project/topics/x-y-z", "--csv", "/nonexistent.csv"],
            2,
            "error: --csv: /nonexistent.csv: no such file",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_non_zero(emulators, args, code, message):
    result = producer(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_emulator_down_is_one_clear_line(emulators):
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": "127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-m", "producer", "--topic", "projects/local-project/topics/x-y-z"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 3
    [line] = result.stderr.strip().splitlines()  # one line: the host, the error's type, its words
    assert re.fullmatch(r"error: cannot reach Pub/Sub at 127\.0\.0\.1:9: ServiceUnavailable: \S.{0,300}", line), line


def test_after_an_outage_longer_than_the_retries_resuming_as_told_leaves_no_line_missing(topic, tmp_path):
    """Pub/Sub refuses every publish for longer than a batch retries (through the fault proxy in
    front of the emulator): the producer stops with exit 1 and names the line and the command to
    resume with; run as told, every line of the file reaches the topic at least once."""
    import shlex

    import grpc

    from transactions_tools.local.fault_proxy import Fault, FaultProxy

    lines = 400
    proxy = FaultProxy(os.environ["PUBSUB_EMULATOR_HOST"]).start()
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": proxy.address}
    argv = ["--topic", topic[0], "--rate", "100", "--limit", str(lines), "--batch-size", "20", "--retry-seconds", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", *argv, "--run-id", "O"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while proxy.stats["calls"] < 8 and time.monotonic() < deadline:  # a few batches are through
            time.sleep(0.05)
        proxy.inject(Fault("calls", grpc.StatusCode.UNAVAILABLE, share=1.0, methods=PUBLISH), seconds=6)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 1, stderr
        assert "summary (stopped: Pub/Sub kept failing): published=" in stderr
        assert proxy.stats["calls failed UNAVAILABLE"] > 0
        resume_line = int(first_group(r"next_line=(\d+)", stderr))
        assert 2 < resume_line < lines + 2
        told = stderr.rsplit(": ", 1)[1].strip()
        command = shlex.split(told)
        assert command[:3] == ["python", "-m", "producer"]
        assert command[-4:] == ["--start-line", str(resume_line), "--run-id", "O"]
        time.sleep(6)  # the outage is over
        resumed = subprocess.run(
            [sys.executable, *command[1:]], capture_output=True, text=True, timeout=120, env=os.environ.copy()
        )
        assert resumed.returncode == 0, resumed.stderr
    finally:
        proxy.stop()
    expected = {f"O:0:{line}" for line in range(2, lines + 2)}
    received = pull_messages(topic[1], 10 * lines, timeout=15)
    ids = {m.attributes["transaction_id"] for m in received}
    assert expected <= ids, sorted(expected - ids)[:10]
