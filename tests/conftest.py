"""Shared fixtures: the real emulators (reused from the environment, or started here), and how
the suite shares them between parallel workers (pytest-xdist, ``make test``)."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactions_tools.local import emulators as stack

LOG_DIR = Path(__file__).resolve().parent.parent / ".local" / "logs" / "tests"

# Parallel workers: ``make test`` runs the integration tests with ``-n WORKERS --dist loadgroup``.
# Every test uses names of its own (:func:`unique`) on the shared emulators and may run beside any
# other, except the ones marked ``xdist_group``, which run one after another on one worker:
# - "shared-topics": the demo, the benchmarks' smoke run and `make chaos` all use the local stack's
#   topic `transacoes` and its dead-letter topic (each with subscriptions of its own, which see
#   every message of the topic): two at once would count each other's messages;
# - "template-image", "producer-image", "backfill-scale": a session- or module-scoped fixture
#   builds an image's environment (or a topic) once for the file's tests.


SLOWEST_FIRST = (
    "tests/integration/test_cloudbuild_steps.py",
    "tests/integration/test_rollups_restarts_emulator.py",
    "tests/integration/test_launch_contract.py",
    "tests/integration/test_rollups_chaos_emulator.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_benchmarks_smoke.py",
    "tests/integration/test_rollups_emulator.py",
    "tests/integration/test_chaos_emulator.py",
)
"""The integration files whose tests take a minute or more (``make integration`` prints the
slowest): collected first, so that parallel workers start them first and the run does not end
waiting on one long test that began last."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: within a file, and for every other file, the order stays


@pytest.fixture(scope="session")
def emulators(worker_id: str) -> Iterator[stack.Emulators]:
    """Pub/Sub and Bigtable emulators; the clients find them through the environment. ``make test``
    starts one pair for every worker; a worker run without them starts its own."""
    with stack.running(LOG_DIR / worker_id) as running:
        saved = {k: os.environ.get(k) for k in running.environment()}
        os.environ.update(running.environment())
        try:
            yield running
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
