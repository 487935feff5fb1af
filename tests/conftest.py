"""Shared fixtures: the real emulators (reused from the environment, or started here)."""

import os
import uuid
from pathlib import Path

import pytest

from transactions_tools.local import emulators as stack

LOG_DIR = Path(__file__).resolve().parent.parent / ".local" / "logs" / "tests"


@pytest.fixture(scope="session")
def emulators():
    """Pub/Sub and Bigtable emulators; the clients find them through the environment."""
    with stack.running(LOG_DIR) as running:
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
