"""The dashboard and alert policies in deploy/monitoring: valid to the Monitoring API as gcloud knows
it, accepted by the real gcloud commands of the README, and built only on metrics the job has.

Dataflow exports each Beam counter as ``dataflow.googleapis.com/job/user_counter`` with the label
``metric_name`` (a GAUGE of the running total, so rates come from PromQL's ``rate``/``increase``);
a distribution as ``<name>_MEAN``, ``_MIN`` and ``_MAX``.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.gcloud import fake_google_api, needs_gcloud, unknown_fields
from transactions_pipeline import metrics

pytestmark = [pytest.mark.gcloud, needs_gcloud]
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "monitoring" / "dashboard.json"
ALERTS = sorted((ROOT / "deploy" / "monitoring" / "alerts").glob("*.json"))
README = (ROOT / "README.md").read_text()
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
    if name in metrics.COUNTERS:
        return True
    base, _, suffix = name.rpartition("_")
    if base in metrics.DISTRIBUTIONS and suffix in {"MEAN", "MIN", "MAX"}:
        return True
    return any(name == re.escape(prefix) + ".+" or name == prefix + ".+" for prefix in metrics.PREFIXES)


@pytest.mark.parametrize("path", [DASHBOARD, *ALERTS], ids=lambda p: p.name)
def test_every_custom_metric_used_exists_in_the_job(path):
    used = metric_names_used(path.read_text())
    assert used or path.name in {"job-failed.json", "oldest-unacked.json"}
    for name in used:
        assert is_exported_by_the_job(name), f"{path.name} uses {name}, which the job does not report"


def monitoring_commands() -> list[str]:
    return [line.strip() for line in re.findall(r"^\s*gcloud (?:alpha )?monitoring .+$", README, re.M)]


def test_the_readme_installs_the_dashboard_and_every_alert():
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
