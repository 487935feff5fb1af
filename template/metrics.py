"""The job's Beam metrics: one namespace, and counters named after a reason code.

Reason codes are open-ended (``invalid_bad_price``, ``dead_lettered_write_bigtable_internal``),
so their counters are made on first use and kept, instead of one attribute per code.
"""

from apache_beam.metrics import Metrics

METRICS_NAMESPACE = "transacoes"


class CounterFamily:
    """Counters ``<prefix><suffix>`` in the job's namespace, created once each."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counters: dict[str, object] = {}

    def __getitem__(self, suffix: str):
        counter = self._counters.get(suffix)
        if counter is None:
            counter = self._counters[suffix] = Metrics.counter(METRICS_NAMESPACE, self._prefix + suffix)
        return counter
