"""deploy/infra, the Pulumi program, built offline under Pulumi's own mocks: no CLI, no plugin, no
project. Mocks answer each resource with its inputs, so these tests see exactly what the program
asks the provider for; what the API would accept, and whether a change replaces a resource,
only a real ``pulumi preview`` can tell (docs/deploy.md, "Set-up as code").
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pulumi
import pytest

from tests.markdown import table_after
from tests.unit.deploy.test_deploy_commands import WORKERS, check_launch, sent
from transactions_pipeline.parameters import BACKFILL, STREAM, of_template
from transactions_tools import defaults, provision

pytestmark = pytest.mark.gcloud
ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "deploy" / "infra"
sys.path.insert(0, str(INFRA))
import program  # noqa: E402  (deploy/infra is its own project, not a package of ours)

SETTINGS = program.Settings(
    project="my-project",
    region="us-central1",
    zone="us-central1-b",
    github_owner="my-github-org",
    github_repo="transacoes-streaming",
    operator="group:data-ops@example.com",
    network=WORKERS["network"],
    subnetwork=WORKERS["subnetwork"],
    machine_type=WORKERS["machineType"],
    max_workers=WORKERS["maxWorkers"],
    notification_channels=("projects/my-project/notificationChannels/1",),
    backfill_bucket="my-sales-bucket",
    job_name="transacoes-stream-eu",
)


class Recorder(pulumi.runtime.Mocks):
    """Each resource answers with its inputs (plus a service account's email and name)."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{args.inputs['accountId']}@{SETTINGS.project}.iam.gserviceaccount.com"
            outputs |= {"email": email, "name": f"projects/{SETTINGS.project}/serviceAccounts/{email}"}
        self.resources.append((args.typ, args.name, args.inputs))
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def build(settings: program.Settings) -> tuple[list[tuple[str, str, dict]], dict]:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="transacoes-infra", stack="test", preview=False)
    outputs: dict = {}

    @pulumi.runtime.test
    def run():
        return pulumi.Output.from_input(program.declare(settings)).apply(outputs.update)

    run()
    return recorder.resources, outputs


@pytest.fixture(scope="module")
def stack():
    return build(SETTINGS)


def of_type(resources, suffix: str) -> dict[str, dict]:
    return {name: inputs for typ, name, inputs in resources if typ.endswith(suffix)}


def test_every_grant_of_the_one_list_and_no_other(stack):
    resources, _ = stack
    grants = tomllib.loads((ROOT / "deploy" / "iam" / "grants.toml").read_text())
    members = {
        "dataflow": f"serviceAccount:transacoes-dataflow@{SETTINGS.project}.iam.gserviceaccount.com",
        "build": f"serviceAccount:transacoes-build@{SETTINGS.project}.iam.gserviceaccount.com",
        "producer": f"serviceAccount:transacoes-producer@{SETTINGS.project}.iam.gserviceaccount.com",
        "operator": SETTINGS.operator,
    }
    bound = sorted(
        (inputs["member"], inputs["role"])
        for typ, _, inputs in resources
        if typ.lower().endswith("iammember") or typ.endswith("IamMember")
    )
    assert bound == sorted((members[g["member"]], g["role"]) for g in grants["grant"])
    on = {name: inputs for typ, name, inputs in resources if "member" in inputs}
    assert on["grant-dataflow-pubsub.subscriber-subscription"]["subscription"] == "transacoes-pipeline"
    assert on["grant-dataflow-pubsub.publisher-topic"]["topic"] == "transacoes-dead-letter"
    assert on["grant-producer-pubsub.publisher-topic"]["topic"] == "transacoes"
    assert on["grant-dataflow-bigtable.user-instance"]["instance"] == SETTINGS.instance
    assert on["grant-dataflow-storage.objectAdmin-bucket"]["bucket"] == SETTINGS.temp_bucket
    assert on["grant-build-storage.objectAdmin-bucket"]["bucket"] == SETTINGS.templates_bucket
    assert on["grant-dataflow-storage.objectViewer-bucket"]["bucket"] == "my-sales-bucket"
    assert on["grant-operator-iam.serviceAccountUser-service-account"]["serviceAccountId"] == (
        f"projects/{SETTINGS.project}/serviceAccounts/transacoes-dataflow@{SETTINGS.project}.iam.gserviceaccount.com"
    )


def test_without_a_backfill_bucket_its_grant_is_left_out():
    resources, _ = build(program.Settings(**{**SETTINGS.__dict__, "backfill_bucket": None}))
    assert "grant-dataflow-storage.objectViewer-bucket" not in {name for _, name, _ in resources}


def test_the_subscriptions_their_topics_and_the_dead_letters_retention(stack):
    resources, _ = stack
    subscriptions = of_type(resources, "pubsub/subscription:Subscription")
    assert subscriptions["subscription"] == {
        "project": SETTINGS.project,
        "name": defaults.SUBSCRIPTION,
        "topic": "topic-id",
        "ackDeadlineSeconds": 60,
        "expirationPolicy": {"ttl": ""},
    }
    dead = subscriptions["dead-letter-subscription"]
    assert (dead["name"], dead["topic"]) == (defaults.DEAD_LETTER_SUBSCRIPTION, "dead-letter-topic-id")
    assert dead["messageRetentionDuration"] == "604800s" and dead["expirationPolicy"] == {"ttl": ""}
    topics = of_type(resources, "pubsub/topic:Topic")
    assert {t["name"] for t in topics.values()} == {defaults.TOPIC, defaults.DEAD_LETTER_TOPIC}


def test_the_tables_families_and_gc_rules_are_what_transacoes_provision_makes(stack):
    resources, _ = stack
    tables = {t["name"]: [f["family"] for f in t["columnFamilies"]] for t in of_type(resources, "Table").values()}
    assert tables == {defaults.TABLE: [defaults.COLUMN_FAMILY], defaults.ROLLUPS_TABLE: list(defaults.ROLLUP_FAMILIES)}
    policies = {(p["table"], p["columnFamily"]): p["maxVersions"] for p in of_type(resources, "GCPolicy").values()}
    assert policies == {
        (table, family): [{"number": 1}] for table, families in tables.items() for family in families
    }, "keep one version, as transacoes-provision's MaxVersionsGCRule(1)"
    [instance] = of_type(resources, "bigtable/instance:Instance").values()
    assert instance["clusters"] == [{"clusterId": "transacoes-prod-c1", "zone": "us-central1-b", "numNodes": 1}]
    assert instance["deletionProtection"] is True
    [profile] = of_type(resources, "AppProfile").values()
    assert profile["appProfileId"] == "backfill-low-priority"
    assert profile["standardIsolation"] == {"priority": "PRIORITY_LOW"}


def test_autoscaling_replaces_the_node_count():
    resources, _ = build(program.Settings(**{**SETTINGS.__dict__, "nodes": None, "min_nodes": 1, "max_nodes": 5}))
    [instance] = of_type(resources, "bigtable/instance:Instance").values()
    [cluster] = instance["clusters"]
    assert "numNodes" not in cluster
    assert cluster["autoscalingConfig"] == {"minNodes": 1, "maxNodes": 5, "cpuTarget": 70}


def test_the_buckets_and_the_repository(stack):
    resources, _ = stack
    buckets = {b["name"]: b for b in of_type(resources, "storage/bucket:Bucket").values()}
    assert set(buckets) == {SETTINGS.templates_bucket, SETTINGS.temp_bucket}
    assert all(b["uniformBucketLevelAccess"] is True for b in buckets.values())
    lifecycle = json.loads((ROOT / "deploy" / "temp-bucket-lifecycle.json").read_text())
    assert (
        buckets[SETTINGS.temp_bucket]["lifecycleRules"]
        == lifecycle["rule"]
        == [{"action": {"type": "Delete"}, "condition": {"age": 7}}]
    )
    runbook = (ROOT / "docs" / "deploy.md").read_text()
    assert "gcloud storage buckets update gs://$TEMP --lifecycle-file=deploy/temp-bucket-lifecycle.json" in runbook
    assert "lifecycleRules" not in buckets[SETTINGS.templates_bucket], "the specs stay"
    [repository] = of_type(resources, "Repository").values()
    assert (repository["repositoryId"], repository["format"]) == ("dataflow", "DOCKER")


def test_the_release_trigger_builds_cloudbuild_yaml_on_a_version_tag(stack):
    resources, _ = stack
    [trigger] = of_type(resources, "cloudbuild/trigger:Trigger").values()
    assert trigger["github"] == {"owner": "my-github-org", "name": "transacoes-streaming", "push": {"tag": "^v.*$"}}
    assert trigger["filename"] == "cloudbuild.yaml" and (ROOT / "cloudbuild.yaml").exists()
    assert trigger["serviceAccount"] == "sa-build-id"
    assert trigger["substitutions"] == {
        "_REGION": "us-central1",
        "_REPOSITORY": "dataflow",
        "_TEMPLATE_BUCKET": SETTINGS.templates_bucket,
    }
    runbook = (ROOT / "docs" / "deploy.md").read_text()
    assert "--tag-pattern='^v.*$' --build-config=cloudbuild.yaml" in runbook, "the runbook's trigger is the same"


def test_the_dashboard_and_alerts_are_the_monitoring_files_with_the_stacks_job_name(stack):
    resources, _ = stack
    swap = lambda text: text.replace('\\"transacoes-stream\\"', f'\\"{SETTINGS.job_name}\\"')  # noqa: E731
    monitoring = ROOT / "deploy" / "monitoring"
    [dashboard] = of_type(resources, "Dashboard").values()
    assert json.loads(dashboard["dashboardJson"]) == json.loads(swap((monitoring / "dashboard.json").read_text()))
    assert SETTINGS.job_name in dashboard["dashboardJson"]
    alerts = of_type(resources, "AlertPolicy")
    files = sorted((monitoring / "alerts").glob("*.json"))
    assert sorted(alerts) == [f"alert-{path.stem}" for path in files]
    for path in files:
        policy = dict(alerts[f"alert-{path.stem}"])
        assert policy.pop("notificationChannels") == list(SETTINGS.notification_channels)
        assert policy.pop("project") == SETTINGS.project
        assert policy == json.loads(swap(path.read_text())), path.name


def test_every_alert_field_is_an_argument_of_pulumis_alert_policy():
    """The alerts go in as plain dictionaries: each key must be one Pulumi's generated argument
    classes know, or the provider would reject it only at ``pulumi up``."""
    import inspect

    import pulumi_gcp as gcp

    def check(value, args_class, where):
        known = set(inspect.signature(args_class.__init__).parameters) - {"self"}
        for key, item in value.items():
            assert key in known, f"{where}.{key} is not an argument of {args_class.__name__}"
            base = args_class.__name__.removesuffix("Args")
            nested = getattr(gcp.monitoring, f"{base}{camel(key)}Args", None) or getattr(
                gcp.monitoring,
                f"{base}{camel(key).removesuffix('s')}Args",
                None,  # a list: the class of one
            )
            if nested is not None:
                for element in item if isinstance(item, list) else [item]:
                    check(element, nested, f"{where}.{key}")

    def camel(key: str) -> str:
        return "".join(part.capitalize() for part in key.split("_"))

    for path in sorted((ROOT / "deploy" / "monitoring" / "alerts").glob("*.json")):
        policy = program.snake_case(json.loads(path.read_text()))
        known = set(inspect.signature(gcp.monitoring.AlertPolicy._internal_init).parameters)
        assert set(policy) <= known, path.name
        for condition in policy["conditions"]:
            check(condition, gcp.monitoring.AlertPolicyConditionArgs, f"{path.name}:conditions")
        check(policy["documentation"], gcp.monitoring.AlertPolicyDocumentationArgs, f"{path.name}:documentation")


def test_a_misspelled_argument_fails_at_construction():
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="transacoes-infra", stack="test", preview=False)
    import pulumi_gcp as gcp

    with pytest.raises(TypeError, match="ack_deadline_second"):
        gcp.pubsub.Subscription("typo", topic="t", ack_deadline_second=60)


def test_the_type_checker_is_clean_and_catches_a_misspelled_argument(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mypy", str(INFRA)], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "program.py"
    broken.write_text((INFRA / "program.py").read_text().replace("ack_deadline_seconds=", "ack_deadline_second=", 1))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", str(broken)], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 1 and "Subscription" in done.stdout, done.stdout


def test_the_programs_names_are_the_templates_and_the_tools_defaults():
    def default(template, name):
        return next(p.default for p in of_template(template) if p.name == name)

    assert program.TABLE == defaults.TABLE, "bigtable_table is required; the tools and the README use this name"
    assert program.COLUMN_FAMILY == defaults.COLUMN_FAMILY == default(STREAM, "column_family")
    assert program.ROLLUPS_TABLE == defaults.ROLLUPS_TABLE
    assert program.ACK_DEADLINE_SECONDS == provision.ACK_DEADLINE_SECONDS
    assert tuple(defaults.ROLLUP_FAMILIES) == program.ROLLUP_FAMILIES
    assert (program.TOPIC, program.SUBSCRIPTION) == (defaults.TOPIC, defaults.SUBSCRIPTION)
    assert (program.DEAD_LETTER_TOPIC, program.DEAD_LETTER_SUBSCRIPTION) == (
        defaults.DEAD_LETTER_TOPIC,
        defaults.DEAD_LETTER_SUBSCRIPTION,
    )
    assert default(BACKFILL, "column_family") == program.COLUMN_FAMILY
    runbook = (ROOT / "docs" / "deploy.md").read_text()
    assert "--priority=PRIORITY_LOW" in runbook and f"app-profiles create {program.BACKFILL_APP_PROFILE}" in runbook


def test_the_runbook_enables_the_same_services():
    runbook = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"gcloud services enable (.+?)\n\n", runbook, re.S).group(1)
    assert sorted(re.findall(r"[a-z]+\.googleapis\.com", block)) == sorted(program.SERVICES)


@pytest.mark.parametrize("template", ["stream", "backfill"])
def test_the_printed_launch_commands_are_accepted_by_gcloud_and_complete(stack, template, tmp_path):
    _, outputs = stack
    command = outputs[f"{template}_launch"]
    launch = check_launch(*sent(command, tmp_path))
    environment = launch["environment"]
    assert {field: environment.get(field) for field in WORKERS} == WORKERS
    assert environment["serviceAccountEmail"] == outputs["dataflow_service_account"]
    assert launch["containerSpecGcsPath"] == outputs[f"{template}_template"]
    if template == "stream":
        assert launch["jobName"] == SETTINGS.job_name


def test_import_ids_name_declared_resources_in_the_forms_pulumi_import_takes(stack):
    resources, _ = stack
    declared = {name for _, name, _ in resources}
    ids = program.import_ids(SETTINGS)
    assert set(ids) <= declared
    unmapped = {
        name
        for typ, name, _ in resources
        if not re.search(r"(IAMMember|IamMember|GCPolicy|Trigger|Dashboard|AlertPolicy)$", typ)
    } - set(ids)
    assert unmapped == set(), "every resource the runbook makes can be adopted"
    forms = {
        "service-": r"my-project/[a-z]+\.googleapis\.com",
        "repository": r"projects/my-project/locations/us-central1/repositories/dataflow",
        "templates-bucket": r"my-project-dataflow-templates",
        "temp-bucket": r"my-project-dataflow-temp",
        "instance": r"projects/my-project/instances/transacoes-prod",
        "table": r"projects/my-project/instances/transacoes-prod/tables/transacoes",
        "rollups-table": r"projects/my-project/instances/transacoes-prod/tables/transacoes_rollups",
        "backfill-app-profile": r"projects/my-project/instances/transacoes-prod/appProfiles/backfill-low-priority",
        "topic": r"projects/my-project/topics/transacoes",
        "dead-letter-topic": r"projects/my-project/topics/transacoes-dead-letter",
        "subscription": r"projects/my-project/subscriptions/transacoes-pipeline",
        "dead-letter-subscription": r"projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "sa-": r"projects/my-project/serviceAccounts/transacoes-[a-z]+@my-project\.iam\.gserviceaccount\.com",
    }
    for name, value in ids.items():
        form = forms.get(name) or next(
            f for prefix, f in forms.items() if prefix.endswith("-") and name.startswith(prefix)
        )
        assert re.fullmatch(form, value), (name, value)


def test_the_infra_lock_pins_what_pyproject_pins():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = sorted(pyproject["project"]["optional-dependencies"]["infra"])
    locked = (INFRA / "requirements.txt").read_text()
    for pin in wanted:
        assert re.search(rf"^{re.escape(pin)} \\$", locked, re.M), pin
    assert "--hash=sha256:" in locked


def config_keys_read() -> set[str]:
    source = (INFRA / "program.py").read_text()
    return set(re.findall(r'(?<!\w)config\.(?:get|require|get_int|get_bool|get_object)\("([a-z_]+)"\)', source)) | {
        "gcp:project"
    }


def test_the_docs_config_table_and_the_example_stack_name_the_keys_the_program_reads():
    documented = set()
    for key_cell, *_ in table_after(ROOT / "docs" / "deploy.md", "config key"):
        documented |= set(re.findall(r"`([a-z_:]+)`", key_cell))
    assert documented == config_keys_read()
    example = (INFRA / "Pulumi.example.yaml").read_text()
    used = {key.replace("transacoes-infra:", "") for key in re.findall(r"^  ([a-z_:-]+):", example, re.M)}
    assert used <= config_keys_read(), used - config_keys_read()
    assert {"gcp:project", "region", "zone", "github_owner", "github_repo", "operator"} <= used, "every required key"


def test_the_readme_and_the_docs_ask_for_outputs_the_program_has(stack):
    _, outputs = stack
    for document in (ROOT / "README.md", ROOT / "docs" / "deploy.md"):
        asked = set(re.findall(r"pulumi stack output (\w+)", document.read_text()))
        assert asked and asked <= set(outputs), (document.name, asked - set(outputs))
