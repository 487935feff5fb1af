"""``transacoes-lookup`` against a busy Bigtable (the fault proxy in front of the emulator): a
short refusal is retried and the answer printed; one that outlasts ``--timeout`` ends in one line
naming the code and the time spent, exit 1, never a traceback."""

import re

import grpc
import pytest

from tests.integration.harness import provision_for_test
from tests.integration.test_backfill_emulator import GOOD, HEADER, backfill_args
from tests.integration.test_chaos_emulator import proxy  # noqa: F401
from tests.output import one_clean_line
from transactions_pipeline.launch import main as launch
from transactions_tools import lookup
from transactions_tools.local.fault_proxy import READ_ROWS, Fault

pytestmark = pytest.mark.integration

REFUSED = Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=1.0, methods=frozenset({READ_ROWS}))


@pytest.fixture
def user_with_two_sales(emulators, unique, monkeypatch, tmp_path):
    """A table with user 02428050's two sales (written straight to the emulator); the table's id."""
    resources = provision_for_test(unique)
    path = tmp_path / "sales.csv"
    path.write_text("\n".join([HEADER, *GOOD]) + "\n")
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        assert launch(backfill_args(resources, str(path))) == 0
    return resources.table


def test_a_short_refusal_is_retried_and_the_answer_printed(user_with_two_sales, proxy, capsys):  # noqa: F811
    proxy.inject(REFUSED, seconds=1.5)
    assert lookup.main(["02428050", "--table", user_with_two_sales, "--json"]) == 0
    assert '"transaction_id"' in capsys.readouterr().out
    assert proxy.stats["calls failed RESOURCE_EXHAUSTED"] >= 1


def test_a_refusal_past_the_timeout_is_one_line_with_the_code_and_the_time(user_with_two_sales, proxy, capsys):  # noqa: F811
    proxy.inject(REFUSED, seconds=60)
    assert lookup.main(["02428050", "--table", user_with_two_sales, "--timeout", "3"]) == 1
    captured = capsys.readouterr()
    line = one_clean_line(captured.err, 400)
    # python-bigtable gives up as soon as its next backoff would pass the deadline: at most 3 s
    assert re.fullmatch(
        r"error: Bigtable kept answering RESOURCE_EXHAUSTED for [0-3]s \(\d+ attempts; the last: injected by the "
        r"fault proxy: the whole call\); the cluster is busy or restarting: try again, or give more --timeout",
        line,
    ), line
    assert "Traceback" not in captured.err and captured.out == ""
    assert proxy.stats["calls failed RESOURCE_EXHAUSTED"] >= 2
