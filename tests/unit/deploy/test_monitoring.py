"""The dashboard and alert policies in deploy/monitoring: valid to the Monitoring API as gcloud knows
it, accepted by the real gcloud commands of docs/monitoring.md, built only on metrics the job has,
and read the way Google documents those metrics.

Dataflow exports each Beam counter as ``dataflow.googleapis.com/job/user_counter`` with the label
``metric_name``: a GAUGE of the running total, sampled every 60 s and visible up to 240 s later
(https://cloud.google.com/monitoring/api/metrics_gcp_d_h#gcp-dataflow). Only counters are read: the
``<name>_MEAN``/``_MIN``/``_MAX``/``_COUNT`` figures of a distribution are names of Dataflow's
``getMetrics`` API (Beam's ``runners/dataflow/dataflow_metrics.py`` reads them there), not labels
Cloud Monitoring is documented to carry. In PromQL, which Cloud Monitoring runs at Prometheus
2.44's level (https://cloud.google.com/stackdriver/docs/managed-prometheus/promql-differences),
``rate``/``irate``/``increase`` are for counters and ``delta``/``deriv`` for gauges
(https://prometheus.io/docs/prometheus/latest/querying/functions/). The queries are read with
``promql_parser`` (a PromQL parser), not with regular expressions.
"""

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import promql_parser
import pytest

from tests.gcloud import fake_google_api, needs_gcloud, unknown_fields
from tests.markdown import table_after
from transactions_pipeline import metrics

pytestmark = [pytest.mark.gcloud, needs_gcloud]
ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "monitoring" / "dashboard.json"
ALERTS = sorted((ROOT / "deploy" / "monitoring" / "alerts").glob("*.json"))
MONITORING_DOC = ROOT / "docs" / "monitoring.md"
USER_COUNTER = "dataflow_googleapis_com:job_user_counter"
CONDITION_KINDS = {
    "conditionThreshold",
    "conditionAbsent",
    "conditionMatchedLog",
    "conditionMonitoringQueryLanguage",
    "conditionPrometheusQueryLanguage",
    "conditionSql",
}


def test_there_is_an_alert_for_each_case():
    assert [path.name for path in ALERTS] == [
        "dead-letters.json",
        "job-failed.json",
        "oldest-unacked.json",
        "throttling.json",
    ]


def test_every_field_is_one_the_monitoring_api_knows():
    assert unknown_fields("dashboard", DASHBOARD) == []
    for path in ALERTS:
        assert unknown_fields("alert_policy", path) == [], path.name


def test_the_dashboard_shows_what_an_operator_needs():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["displayName"]
    tiles = dashboard["mosaicLayout"]["tiles"]
    titles = " | ".join(tile["widget"]["title"] for tile in tiles)
    for needed in (
        "Rows written",
        "Dead letters",
        "throttled",
        "Freshness",
        "backlog",
        "oldest unacknowledged",
        "system lag",
        "watermark",
        "Bigtable CPU",
    ):
        assert needed in titles, needed
    for tile in tiles:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            assert len(data_set["timeSeriesQuery"]) == 1, "one query per data set"


@pytest.mark.parametrize("path", ALERTS, ids=lambda p: p.name)
def test_every_alert_has_a_condition_and_says_what_to_do(path):
    policy = json.loads(path.read_text())
    assert policy["displayName"] and policy["combiner"] == "OR"
    for condition in policy["conditions"]:
        assert condition["displayName"] and len(set(condition) & CONDITION_KINDS) == 1
    assert re.search(r"^1\. .+^2\. ", policy["documentation"]["content"], re.S | re.M), "numbered steps"


def metric_names_used(text: str) -> set[str]:
    """Every user-counter name a file refers to, in a filter or a PromQL selector (each
    alternative of a ``a|b`` regex selector on its own)."""
    found = set(re.findall(r'metric(?:\.labels)?\.metric_name=\\?"([^"\\]+)\\?"', text)) | set(
        re.findall(r'metric_name=~?\\?"([^"\\]+)\\?"', text)
    )
    return {name for selector in found for name in selector.split("|")}


def is_exported_by_the_job(name: str) -> bool:
    """A counter of ours, or a counter family's ``<prefix>.+``: never a distribution's getMetrics name."""
    if name in metrics.COUNTERS:
        return True
    return any(name == re.escape(prefix) + ".+" or name == prefix + ".+" for prefix in metrics.PREFIXES)


@pytest.mark.parametrize("path", [DASHBOARD, *ALERTS], ids=lambda p: p.name)
def test_every_custom_metric_used_exists_in_the_job(path):
    used = metric_names_used(path.read_text())
    assert used or path.name in {"job-failed.json", "oldest-unacked.json"}
    for name in used:
        assert is_exported_by_the_job(name), f"{path.name} uses {name}, which the job does not report"


def monitoring_commands() -> list[str]:
    text = MONITORING_DOC.read_text()
    return [line.strip() for line in re.findall(r"^\s*gcloud (?:alpha )?monitoring .+$", text, re.M)]


def test_the_monitoring_doc_installs_the_dashboard_and_every_alert():
    commands = " ".join(monitoring_commands())
    assert "gcloud monitoring dashboards create --config-from-file=deploy/monitoring/dashboard.json" in commands
    assert "gcloud alpha monitoring policies create --policy-from-file=" in commands


def test_gcloud_accepts_each_file_as_the_readme_installs_it(tmp_path):
    files = {"dashboards": [DASHBOARD], "policies": ALERTS}
    for group, paths in files.items():
        flag = "--config-from-file" if group == "dashboards" else "--policy-from-file"
        release = [] if group == "dashboards" else ["alpha"]
        for path in paths:
            with fake_google_api(tmp_path / "gcloud", "monitoring") as (environment, recorded):
                done = subprocess.run(
                    ["gcloud", *release, "monitoring", group, "create", f"{flag}={path}"],
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"{path.name}: {done.stderr}"
            [(_, body)] = recorded
            assert body == json.loads(path.read_text()), f"gcloud changed {path.name} on the way"


# What the queries compute, read by a PromQL parser.


def promql_queries() -> list[tuple[str, str]]:
    """(where, query) of every PromQL query in the dashboard and the alerts."""
    found = []
    for tile in json.loads(DASHBOARD.read_text())["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            if "prometheusQuery" in data_set["timeSeriesQuery"]:
                found.append((tile["widget"]["title"], data_set["timeSeriesQuery"]["prometheusQuery"]))
    for path in ALERTS:
        for condition in json.loads(path.read_text())["conditions"]:
            if "conditionPrometheusQueryLanguage" in condition:
                found.append((path.name, condition["conditionPrometheusQueryLanguage"]["query"]))
    return found


SelectorUse = tuple[str | None, promql_parser.VectorSelector, timedelta | None]
"""(function around it, vector selector, range): the range is None for a bare vector selector."""


def selector_uses(expression) -> list[SelectorUse]:
    """(function around it, vector selector, range) for every selector of the expression."""
    uses: list[SelectorUse] = []

    def visit(node, function):
        if isinstance(node, promql_parser.VectorSelector):
            uses.append((function, node, None))
        elif isinstance(node, promql_parser.MatrixSelector):
            uses.append((function, node.vector_selector, node.range))
        elif isinstance(node, promql_parser.Call):
            for argument in node.args:
                visit(argument, node.func.name)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs, None)
            visit(node.rhs, None)
        elif isinstance(node, promql_parser.AggregateExpr | promql_parser.ParenExpr | promql_parser.UnaryExpr):
            visit(node.expr, None)
        elif isinstance(node, promql_parser.SubqueryExpr):
            raise AssertionError("a subquery: Cloud Monitoring's support for them is not documented")

    visit(expression, None)
    return uses


def metric_name_of(selector) -> str:
    [name] = [m.value for m in selector.matchers.matchers if m.name == "metric_name"]
    return name


def test_a_running_total_is_read_as_the_gauge_it_is():
    """``delta``/``deriv`` over at least 5 minutes, never ``rate``/``increase`` (counter functions),
    never the bare running total, never a distribution's lifetime ``_MEAN``/``_MIN``/``_MAX``."""
    queries = promql_queries()
    assert len(queries) >= 7
    for where, query in queries:
        uses = selector_uses(promql_parser.parse(query))
        assert uses, where
        for function, selector, window in uses:
            assert selector.name == USER_COUNTER, f"{where}: {selector.name}"
            assert function in {"delta", "deriv"}, f"{where}: {function} on a GAUGE"
            assert window is not None, f"{where}: a bare {selector.name}, not a range of it"
            assert window.total_seconds() >= 300, f"{where}: a {window} window holds too few 60 s samples"
            assert not re.search(r"_(MEAN|MIN|MAX)$", metric_name_of(selector)), f"{where}: a lifetime figure"


def test_the_freshness_tile_is_the_mean_of_the_rows_written_in_its_window():
    [query] = [query for where, query in promql_queries() if where.startswith("Freshness")]
    expression = promql_parser.parse(query)
    assert isinstance(expression, promql_parser.BinaryExpr) and str(expression.op) == "/"
    [(f_sum, sum_selector, sum_window)] = selector_uses(expression.lhs)
    [(f_count, count_selector, count_window)] = selector_uses(expression.rhs)
    assert (f_sum, f_count) == ("delta", "delta")
    assert sum_window == count_window
    assert metric_name_of(sum_selector) == metrics.WRITE_FRESHNESS_MS_SUM
    # The count is a plain counter the sink writes itself (the rows whose freshness the sum adds):
    # ``write_freshness_ms_COUNT`` is a name of Dataflow's getMetrics API, not of Cloud Monitoring.
    assert metric_name_of(count_selector) == "write_freshness_count" == metrics.WRITE_FRESHNESS_COUNT
    assert metrics.WRITE_FRESHNESS_COUNT in metrics.COUNTERS
    used = metric_names_used(DASHBOARD.read_text())
    assert not [name for name in used if re.search(r"_(MAX|MEAN|MIN|COUNT)$", name)], "a getMetrics name"


def delays_documented() -> dict[str, tuple[str, str]]:
    """metric type -> (sampled every, visible up to), from docs/monitoring.md's table."""
    rows = {}
    for metric, kind, sampled, visible, source in table_after(MONITORING_DOC, "metric"):
        assert kind == "GAUGE" and "cloud.google.com/monitoring/api/metrics_gcp_" in source
        rows[metric.strip("`")] = (sampled, visible.removesuffix(" later"))
    return rows


def metric_type_of(condition: dict) -> str:
    if "conditionThreshold" in condition:
        metric_filter = condition["conditionThreshold"]["filter"]
        metric_type = re.search(r'metric\.type="([^"]+)"', metric_filter)
        assert metric_type is not None, f"a threshold condition filters on no metric.type: {metric_filter}"
        return metric_type.group(1)
    query = promql_parser.parse(condition["conditionPrometheusQueryLanguage"]["query"])
    [name] = {selector.name for _, selector, _ in selector_uses(query)}
    assert name is not None, f"a selector without a metric name: {query}"
    domain, _, path = name.partition(":")
    return domain.replace("_", ".") + "/" + path.replace("_", "/", 1)


@pytest.mark.parametrize("path", ALERTS, ids=lambda p: p.name)
def test_every_alert_says_how_late_it_fires_with_its_metrics_documented_delays(path):
    delays = delays_documented()
    policy = json.loads(path.read_text())
    content = policy["documentation"]["content"]
    [paragraph] = [part for part in content.split("\n\n") if part.startswith("**How late this fires.**")]
    for condition in policy["conditions"]:
        sampled, visible = delays[metric_type_of(condition)]
        assert f"every {sampled}" in paragraph and f"up to {visible} later" in paragraph, path.name
        promql = condition.get("conditionPrometheusQueryLanguage")
        if promql:
            assert promql["duration"] == "0s", "the 10-minute window is the smoothing; a duration only adds delay"
            assert promql["evaluationInterval"] == "60s"


# What the notifications say.

POLICY_VARIABLES = {"condition.name", "condition.display_name", "policy.name", "policy.display_name", "project"}
"""Documentation variables about the policy itself, which every notification fills in; the label
variables (``metric.label.KEY``, ``resource.label.KEY``, ``resource.project``, ``metadata.*``) take
the value of the time series that fired, and are "subject to grouping"
(https://cloud.google.com/monitoring/alerts/doc-variables#doc-vars): a label an aggregation drops
renders empty."""


def labels_kept(query: str) -> set[str]:
    """The labels a PromQL condition's result still carries: only those its outer aggregation
    groups by (``sum by (a)``); a bare ``sum`` or a ratio of sums keeps none."""
    expression = promql_parser.parse(query)
    while isinstance(expression, promql_parser.BinaryExpr | promql_parser.ParenExpr):
        expression = expression.lhs if isinstance(expression, promql_parser.BinaryExpr) else expression.expr
    if isinstance(expression, promql_parser.AggregateExpr):
        modifier = expression.modifier
        return set(modifier.labels) if modifier is not None and str(modifier.type).endswith("By") else set()
    return {"*"}


@pytest.mark.parametrize("path", ALERTS, ids=lambda p: p.name)
def test_every_documentation_variable_survives_the_conditions_aggregation(path):
    policy = json.loads(path.read_text())
    variables = set(re.findall(r"\$\{([^}]+)\}", policy["documentation"]["content"]))
    for variable in variables - POLICY_VARIABLES:
        key = variable.rpartition(".")[2]
        for condition in policy["conditions"]:
            promql = condition.get("conditionPrometheusQueryLanguage")
            kept = labels_kept(promql["query"]) if promql else {"*"}
            assert "*" in kept or key in kept, f"{path.name}: ${{{variable}}} renders empty after the aggregation"
    if path.name == "dead-letters.json":
        assert variables == {"project"}, "the commands name the project the policy lives in"


def test_the_aggregated_dead_letter_condition_keeps_no_label():
    """The check above is not vacuous: the dead-letter ratio is a ratio of bare sums."""
    [condition] = json.loads((ROOT / "deploy" / "monitoring" / "alerts" / "dead-letters.json").read_text())[
        "conditions"
    ]
    assert labels_kept(condition["conditionPrometheusQueryLanguage"]["query"]) == set()
    assert labels_kept('sum by (job_id) (delta(x{a="b"}[10m]))') == {"job_id"}


@pytest.mark.parametrize("path", ALERTS, ids=lambda p: p.name)
def test_every_place_an_alert_points_at_exists(path):
    """A notification names the document section or command to use: each must be where it says."""
    content = json.loads(path.read_text())["documentation"]["content"]
    for document, heading in re.findall(r"(docs/[a-z-]+\.md), \"([^\"]+)\"", content):
        headings = re.findall(r"^#+ (.+)$", (ROOT / document).read_text(), re.M)
        assert heading in headings, f"{path.name} points at {document}, {heading!r}, which has no such section"
    for command in re.findall(r"README's `([^`]+)`", content):
        assert command in (ROOT / "README.md").read_text(), f"{path.name}: the README has no `{command}`"
    for output in re.findall(r"pulumi stack output (\w+)", content):
        assert f'"{output}":' in (ROOT / "deploy" / "infra" / "program.py").read_text(), output


def test_no_promql_data_set_has_a_legend_template_that_interpolates():
    """A PromQL series' labels are PromQL's (``metric_name``), not the ``metric.labels.*`` a legend
    template interpolates for a filter; unverified offline, so no PromQL data set relies on one."""
    for tile in json.loads(DASHBOARD.read_text())["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            if "prometheusQuery" in data_set["timeSeriesQuery"]:
                assert "${" not in data_set.get("legendTemplate", ""), tile["widget"]["title"]
