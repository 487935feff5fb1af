"""deploy/infra, the Pulumi program, built offline under Pulumi's own mocks: no CLI, no plugin, no
project. Mocks answer each resource with its inputs, so these tests see exactly what the program
asks the provider for, and which id it imports (the mock monitor passes a resource's ``import``
id on as ``MockResourceArgs.resource_id``, pulumi's ``runtime/mocks.py``). What the API would
accept, and whether a change replaces a resource, only a real ``pulumi preview`` can tell
(docs/deploy.md, "First deploy").

Mocks do not order resources, which is what broke the first ``pulumi up``: a grant naming an
account by string was created before the account. So the mocked accounts have addresses no
string of the program could spell, and a member that does not carry one was not taken from the
``Account`` resource.
"""

import json
import logging
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pulumi
import pulumi.runtime.mocks
import pytest

from tests.markdown import table_after
from tests.unit.deploy.google_api import google_api
from tests.unit.deploy.test_deploy_commands import WORKERS, check_launch, sent, shell_commands
from transactions import retention
from transactions_pipeline.parameters import BACKFILL, STREAM, of_template
from transactions_tools import defaults, provision

pytestmark = pytest.mark.gcloud
ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "deploy" / "infra"
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()
sys.path.insert(0, str(INFRA))
import program  # noqa: E402  (deploy/infra is its own project, not a package of ours)

SETTINGS = program.Settings(
    project="my-project",
    region="us-central1",
    zone="us-central1-b",
    github_owner="my-github-org",
    github_repo="transacoes-streaming",
    operator="group:data-ops@example.com",
    alert_emails=("data-ops@example.com",),
    notification_channels=("projects/my-project/notificationChannels/1",),
    network=cast(str, WORKERS["network"]),
    machine_type=cast(str, WORKERS["machineType"]),
    max_workers=cast(int, WORKERS["maxWorkers"]),
    backfill_bucket="my-sales-bucket",
    job_name="transacoes-stream-eu",
)
MOCKED_EMAIL = "{}@made-by-the-account.iam.gserviceaccount.com"
"""A mocked account's ``email``: a member spelled from ``Settings.email`` would not carry it."""
Resources = list[tuple[str, str, dict[str, Any]]]


def with_settings(**changes: Any) -> "program.Settings":
    return program.Settings(**{**SETTINGS.__dict__, **changes})


class Recorder(pulumi.runtime.Mocks):
    """Each resource answers with its inputs, plus what the service makes: an account's email and
    name, a notification channel's name."""

    def __init__(self) -> None:
        self.resources: Resources = []
        self.imported: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            email = MOCKED_EMAIL.format(args.inputs["accountId"])
            outputs |= {"email": email, "name": f"projects/{SETTINGS.project}/serviceAccounts/{email}"}
        if args.typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            outputs["name"] = f"projects/{SETTINGS.project}/notificationChannels/{args.name}"
        if args.custom:
            self.resources.append((args.typ, args.name, args.inputs))
        if args.resource_id:
            self.imported[args.name] = args.resource_id
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # (outputs, failures): the mock monitor iterates the failures of a tuple, so no failure is [], not None
        return {}, []


class Built:
    def __init__(self, recorder: Recorder, outputs: dict[str, Any], urns: list[tuple[str, str, str]]) -> None:
        self.resources, self.imported, self.outputs, self.urns = recorder.resources, recorder.imported, outputs, urns


def build(settings: "program.Settings") -> Built:
    recorder = Recorder()
    urns: list[tuple[str, str, str]] = []  # (parent URN, type, name) of every registration
    make_urn = pulumi.runtime.mocks.MockMonitor.make_urn

    def recording(monitor: pulumi.runtime.mocks.MockMonitor, parent: str, type_: str, name: str) -> str:
        urns.append((parent, type_, name))
        return make_urn(monitor, parent, type_, name)

    outputs: dict[str, Any] = {}
    # patch.object puts make_urn back on the way out, as the try/finally that assigned it did
    with mock.patch.object(pulumi.runtime.mocks.MockMonitor, "make_urn", recording):
        pulumi.runtime.set_mocks(recorder, project="transacoes-infra", stack="test", preview=False)

        @pulumi.runtime.test
        def run() -> pulumi.Output[None]:
            return pulumi.Output.from_input(program.declare(settings)).apply(outputs.update)

        run()
    return Built(recorder, outputs, urns)


@pytest.fixture(scope="module")
def stack() -> Built:
    return build(SETTINGS)


def of_type(resources: Resources, suffix: str) -> dict[str, dict[str, Any]]:
    return {name: inputs for typ, name, inputs in resources if typ.endswith(suffix)}


GRANTS = tomllib.loads((ROOT / "deploy" / "iam" / "grants.toml").read_text())


def bound_members(resources: Resources) -> dict[str, dict[str, Any]]:
    return {name: inputs for typ, name, inputs in resources if re.search(r"I[Aa][Mm]Member$", typ)}


# IAM


def test_every_grant_of_the_one_list_and_no_other(stack: Built) -> None:
    members = {
        "dataflow": "serviceAccount:" + MOCKED_EMAIL.format("transacoes-dataflow"),
        "build": "serviceAccount:" + MOCKED_EMAIL.format("transacoes-build"),
        "producer": "serviceAccount:" + MOCKED_EMAIL.format("transacoes-producer"),
        "operator": SETTINGS.operator,
    }
    bound = bound_members(stack.resources)
    assert sorted((m["member"], m["role"]) for m in bound.values()) == sorted(
        (members[g["member"]], g["role"]) for g in GRANTS["grant"]
    )
    on = {name: inputs for name, inputs in bound.items()}
    sa = f"projects/{SETTINGS.project}/serviceAccounts/" + MOCKED_EMAIL
    assert (
        on["grant-dataflow-pubsub.subscriber-subscription-transacoes-pipeline"]["subscription"] == "transacoes-pipeline"
    )
    assert on["grant-dataflow-pubsub.publisher-topic-transacoes-dead-letter"]["topic"] == "transacoes-dead-letter"
    assert on["grant-producer-pubsub.publisher-topic-transacoes"]["topic"] == "transacoes"
    assert on["grant-dataflow-bigtable.user-instance-instance"]["instance"] == SETTINGS.instance
    assert on["grant-dataflow-storage.objectAdmin-bucket-temp"]["bucket"] == SETTINGS.temp_bucket
    assert on["grant-build-storage.objectAdmin-bucket-templates"]["bucket"] == SETTINGS.templates_bucket
    assert on["grant-dataflow-storage.objectViewer-bucket-of-a-backfill-s-csv"]["bucket"] == "my-sales-bucket"
    assert on["grant-operator-iam.serviceAccountUser-service-account-dataflow-sa"]["serviceAccountId"] == sa.format(
        "transacoes-dataflow"
    )
    assert on["grant-operator-iam.serviceAccountUser-service-account-producer-sa"]["serviceAccountId"] == sa.format(
        "transacoes-producer"
    )
    assert on["grant-operator-pubsub.subscriber-subscription-transacoes-dead-letter-smoke"]["subscription"] == (
        program.SMOKE_SUBSCRIPTION
    )
    assert on["grant-operator-cloudbuild.connectionViewer-connection-connection"]["name"] == SETTINGS.github_connection


def test_a_grant_to_one_of_the_programs_accounts_takes_the_accounts_email_output(stack: Built) -> None:
    """The first ``pulumi up`` failed: members were strings (``Settings.email``), so nothing ordered
    a grant after the account it names, and IAM refused members that did not exist yet. Pulumi orders
    a resource after every resource whose output it takes (https://www.pulumi.com/docs/iac/concepts/inputs-outputs/)."""
    ours = {f"serviceAccount:{SETTINGS.email(member)}" for member in program.SERVICE_ACCOUNTS}
    by_name = {program.grant_name(grant): grant for grant in GRANTS["grant"]}
    checked = 0
    for name, inputs in bound_members(stack.resources).items():
        spec = GRANTS["members"][by_name[name]["member"]]["member"]
        assert inputs["member"] not in ours, f"{name} names an account by string"
        if any(variable in spec for variable in program.ACCOUNT_VARIABLES):
            assert re.fullmatch(r"serviceAccount:transacoes-[a-z]+@made-by-the-account\.iam\.gserviceaccount\.com",
                                inputs["member"]), name  # fmt: skip
            checked += 1
    assert checked == sum(g["member"] != "operator" for g in GRANTS["grant"])


def test_without_a_backfill_bucket_its_grant_is_left_out() -> None:
    built = build(with_settings(backfill_bucket=None))
    names = {name for _, name, _ in built.resources}
    assert "grant-dataflow-storage.objectViewer-bucket-of-a-backfill-s-csv" not in names
    assert "grant-dataflow-storage.objectAdmin-bucket-temp" in names


# Pub/Sub, Bigtable, storage


def test_the_subscriptions_their_topics_and_the_dead_letters_retention(stack: Built) -> None:
    subscriptions = of_type(stack.resources, "pubsub/subscription:Subscription")
    assert subscriptions["subscription"] == {
        "project": SETTINGS.project,
        "name": defaults.SUBSCRIPTION,
        "topic": "topic-id",
        "ackDeadlineSeconds": 60,
        "expirationPolicy": {"ttl": ""},
        "messageRetentionDuration": f"{retention.SUBSCRIPTION_RETENTION_SECONDS}s",
        "retainAckedMessages": True,
    }
    dead = subscriptions["dead-letter-subscription"]
    assert (dead["name"], dead["topic"]) == (defaults.DEAD_LETTER_SUBSCRIPTION, "dead-letter-topic-id")
    assert dead["messageRetentionDuration"] == "604800s" and dead["expirationPolicy"] == {"ttl": ""}
    smoke = subscriptions["smoke-subscription"]
    assert (smoke["name"], smoke["topic"], smoke["messageRetentionDuration"]) == (
        "transacoes-dead-letter-smoke",
        "dead-letter-topic-id",
        "86400s",
    )
    topics = of_type(stack.resources, "pubsub/topic:Topic")
    assert {t["name"] for t in topics.values()} == {defaults.TOPIC, defaults.DEAD_LETTER_TOPIC}


def test_the_tables_families_and_gc_rules_are_what_transacoes_provision_makes(stack: Built) -> None:
    tables = {t["name"]: [f["family"] for f in t["columnFamilies"]] for t in of_type(stack.resources, "Table").values()}
    assert tables == {
        defaults.TABLE: [defaults.COLUMN_FAMILY],
        defaults.ROLLUPS_TABLE: list(defaults.ROLLUP_FAMILIES),
        defaults.FORGOTTEN_TABLE: list(defaults.FORGOTTEN_FAMILIES),
    }
    policies = {
        (p["table"], p["columnFamily"]): (p["mode"], p["maxAge"], p["maxVersions"])
        for p in of_type(stack.resources, "GCPolicy").values()
    }
    assert policies == {
        (table, family): (
            "UNION",
            {"duration": f"{retention.GC_RULES[family].max_age_days * 24}h"},
            [{"number": retention.GC_RULES[family].max_versions}],
        )
        for table, families in tables.items()
        for family in families
    }, "the retention table, as transacoes-provision's gc_rule: a max age or one version"
    assert policies[(defaults.ROLLUPS_TABLE, "ids")][1] == {"duration": "768h"}
    [instance] = of_type(stack.resources, "bigtable/instance:Instance").values()
    assert instance["clusters"] == [{"clusterId": "transacoes-prod-c1", "zone": "us-central1-b", "numNodes": 1}]
    assert instance["deletionProtection"] is True
    [profile] = of_type(stack.resources, "AppProfile").values()
    assert profile["appProfileId"] == "backfill-low-priority"
    assert profile["standardIsolation"] == {"priority": "PRIORITY_LOW"}


def test_one_retention_table_in_the_program_the_runbook_and_transacoes_provision() -> None:
    """``transactions.retention`` is the table; the program restates its numbers (it imports none of
    ours), the runbook's ``cbt setgcpolicy`` lines say the same, and provisioning builds its rules."""
    assert {family: rule.max_age_days for family, rule in retention.GC_RULES.items()} == program.GC_MAX_AGE_DAYS
    assert {family.name: family.max_versions for spec in program.TABLES for family in spec.families} == {
        family: rule.max_versions for family, rule in retention.GC_RULES.items()
    }
    assert f"{retention.SUBSCRIPTION_RETENTION_SECONDS}s" == program.INPUT_RETENTION
    runbook = {}
    for command in shell_commands(DEPLOY_DOC):
        policy = re.fullmatch(
            r"cbt -project \$PROJECT -instance \$INSTANCE setgcpolicy (\S+) (\S+) (maxage=\d+d or maxversions=\d+)",
            command,
        )
        if policy:
            runbook[(policy[1], policy[2])] = policy[3]
    assert runbook == {
        (spec.table_id, family.name): retention.GC_RULES[family.name].cbt()
        for spec in program.TABLES
        for family in spec.families
    }
    assert (
        "gcloud pubsub subscriptions update transacoes-pipeline --retain-acked-messages "
        f"--message-retention-duration={retention.SUBSCRIPTION_RETENTION_DAYS}d"
    ) in shell_commands(DEPLOY_DOC)
    for family, rule in retention.GC_RULES.items():
        union = provision.gc_rule(family).to_pb().union
        assert [r.max_num_versions for r in union.rules[:1]] == [rule.max_versions]
        assert union.rules[1].max_age.total_seconds() == rule.max_age_seconds


def test_the_tables_are_protected_so_a_destroy_stops_before_the_data() -> None:
    """Unset, a table is UNPROTECTED and ``pulumi destroy`` deletes both tables before the
    instance's own protection stops it (pulumi-gcp's ``bigtable/table.py``: "when set to PROTECTED,
    deleting the table, the column families in the table, and the instance containing the table
    would be prohibited. If not provided, deletion protection will be set to UNPROTECTED")."""
    built = build(SETTINGS)
    protection = {
        t["name"]: t.get("deletionProtection") for t in of_type(built.resources, "bigtable/table:Table").values()
    }
    assert protection == {
        defaults.TABLE: "PROTECTED",
        defaults.ROLLUPS_TABLE: "PROTECTED",
        defaults.FORGOTTEN_TABLE: "PROTECTED",
    }


def test_autoscaling_replaces_the_node_count() -> None:
    built = build(with_settings(nodes=None, min_nodes=1, max_nodes=5))
    [instance] = of_type(built.resources, "bigtable/instance:Instance").values()
    [cluster] = instance["clusters"]
    assert "numNodes" not in cluster
    assert cluster["autoscalingConfig"] == {"minNodes": 1, "maxNodes": 5, "cpuTarget": 70}


def test_the_buckets_and_the_repository(stack: Built) -> None:
    buckets = {b["name"]: b for b in of_type(stack.resources, "storage/bucket:Bucket").values()}
    assert set(buckets) == {SETTINGS.templates_bucket, SETTINGS.temp_bucket}
    assert all(b["uniformBucketLevelAccess"] is True for b in buckets.values())
    assert "lifecycleRules" not in buckets[SETTINGS.templates_bucket], "the specs stay"
    [repository] = of_type(stack.resources, "artifactregistry/repository:Repository").values()
    assert (repository["repositoryId"], repository["format"]) == ("dataflow", "DOCKER")


def test_the_temp_lifecycle_deletes_temp_files_never_the_staged_ones(stack: Built) -> None:
    """A stream that runs for weeks still reads its staged files whenever Dataflow replaces or adds
    a worker (apache/beam#18123: "streaming jobs can reference staged files arbitrarily later and
    will fail in bad ways if they have been deleted"):
    the 7-day Delete rule is limited to ``temp/`` (Cloud Storage's ``matchesPrefix`` condition,
    https://cloud.google.com/storage/docs/lifecycle#matchesprefix-suffix), in the runbook's file and
    in the program alike, and checked against the locations the launch commands pass."""
    lifecycle = json.loads((ROOT / "deploy" / "temp-bucket-lifecycle.json").read_text())
    assert lifecycle == {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 7, "matchesPrefix": ["temp/"]}}]}
    buckets = {b["name"]: b for b in of_type(stack.resources, "storage/bucket:Bucket").values()}
    assert buckets[SETTINGS.temp_bucket]["lifecycleRules"] == [
        {"action": {"type": "Delete"}, "condition": {"age": 7, "matchesPrefixes": ["temp/"]}}
    ]
    assert "gcloud storage buckets update gs://$TEMP --lifecycle-file=deploy/temp-bucket-lifecycle.json" in DEPLOY_DOC
    [rule] = lifecycle["rule"]
    for template in ("stream", "backfill"):
        command = stack.outputs[f"{template}_launch"]
        staging_match = re.search(rf"--staging-location=gs://{SETTINGS.temp_bucket}/(\S+)", command)
        assert staging_match is not None, (
            f"the {template} launch has no --staging-location in the temp bucket: {command}"
        )
        temp_match = re.search(rf"--temp-location=gs://{SETTINGS.temp_bucket}/(\S+)", command)
        assert temp_match is not None, f"the {template} launch has no --temp-location in the temp bucket: {command}"
        staging, temp = staging_match.group(1), temp_match.group(1)
        # a location is a folder: the job writes the objects under it, "<location>/..."
        assert not any(f"{staging}/".startswith(prefix) for prefix in rule["condition"]["matchesPrefix"]), staging
        assert any(f"{temp}/".startswith(prefix) for prefix in rule["condition"]["matchesPrefix"]), temp


def test_gcloud_decodes_the_lifecycle_file_with_no_unknown_field(tmp_path: Path) -> None:
    """The file is Cloud Storage's JSON API form: gcloud's own storage v1 messages know each field."""
    assert unknown_storage_fields(ROOT / "deploy" / "temp-bucket-lifecycle.json") == []


_STORAGE_FIELDS = """
import json, sys
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.storage.v1 import storage_v1_messages as storage
value = encoding.PyValueToMessage(storage.Bucket.LifecycleValue, json.load(open(sys.argv[1])))
found = []
for rule in value.rule:
    found += rule.all_unrecognized_fields() + rule.condition.all_unrecognized_fields()
    found += rule.action.all_unrecognized_fields()
print(json.dumps(found + value.all_unrecognized_fields()))
"""


def unknown_storage_fields(path: Path) -> list[str]:
    info = subprocess.run(["gcloud", "info", "--format=value(basic.python_location,installation.sdk_root)"],
                          capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    python, sdk_root = info[0], info[1]
    done = subprocess.run([python, "-c", _STORAGE_FIELDS, str(path)], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{sdk_root}/lib:{sdk_root}/lib/third_party"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


# The workers' network


def test_the_workers_subnetwork_is_the_programs_with_private_google_access(stack: Built) -> None:
    """``--disable-public-ips`` workers reach Google's APIs only through Private Google Access on
    their subnetwork, and talk to each other on TCP 12345-12346 between VMs tagged ``dataflow``
    (Dataflow's "Configure internet access and firewall rules",
    https://cloud.google.com/dataflow/docs/guides/routes-firewall; the same ports in Google's own
    ``terraform-google-secured-data-warehouse``, ``modules/dwh-networking/dataflow_firewall.tf``),
    which the default network's ``default-allow-internal`` rule allows only inside 10.128.0.0/9."""
    [subnetwork] = of_type(stack.resources, "compute/subnetwork:Subnetwork").values()
    assert subnetwork == {
        "project": SETTINGS.project,
        "name": "transacoes-workers",
        "network": WORKERS["network"],
        "region": SETTINGS.region,
        "ipCidrRange": "10.100.0.0/24",
        "privateIpGoogleAccess": True,
    }
    [firewall] = of_type(stack.resources, "compute/firewall:Firewall").values()
    assert (firewall["network"], firewall["direction"], firewall["sourceTags"], firewall["targetTags"]) == (
        WORKERS["network"],
        "INGRESS",
        ["dataflow"],
        ["dataflow"],
    )
    assert firewall["allows"] == [{"protocol": "tcp", "ports": ["12345-12346"]}]
    assert (
        stack.outputs["workers_subnetwork"]
        == WORKERS["subnetwork"]
        == "regions/us-central1/subnetworks/transacoes-workers"
    )


def test_the_runbook_makes_the_same_subnetwork_and_firewall_rule() -> None:
    commands = [" ".join(c.split()) for c in shell_commands(DEPLOY_DOC)]
    [subnet] = [c for c in commands if c.startswith("gcloud compute networks subnets create")]
    assert subnet == (
        "gcloud compute networks subnets create transacoes-workers --network=$NETWORK --region=$REGION "
        "--range=$WORKERS_RANGE --enable-private-ip-google-access"
    )
    [firewall] = [c for c in commands if c.startswith("gcloud compute firewall-rules create")]
    assert firewall == (
        "gcloud compute firewall-rules create transacoes-workers-internal --network=$NETWORK --direction=INGRESS "
        "--source-tags=dataflow --target-tags=dataflow --allow=tcp:12345-12346"
    )
    assert "SUBNETWORK=regions/$REGION/subnetworks/transacoes-workers" in DEPLOY_DOC
    assert f"WORKERS_RANGE={program.Settings.workers_range}" in DEPLOY_DOC


# The build


def test_the_release_trigger_builds_cloudbuild_yaml_on_a_version_tag_through_a_second_generation_repository(
    stack: Built,
) -> None:
    """A first-generation ``github {owner, name}`` trigger fails with "Repository mapping does not
    exist" until someone connects the repository in the Console (GoogleCloudPlatform/emblem#815);
    a second-generation trigger names a ``cloudbuildv2`` repository (pulumi-gcp's
    ``cloudbuild/trigger.py``, ``repository_event_config``), which the program declares on the
    connection made once by hand (https://cloud.google.com/build/docs/automating-builds/github/connect-repo-github?generation=2nd-gen)."""
    [trigger] = of_type(stack.resources, "cloudbuild/trigger:Trigger").values()
    assert "github" not in trigger
    assert trigger["repositoryEventConfig"] == {"repository": "github-repository-id", "push": {"tag": "^v.*$"}}
    assert (trigger["name"], trigger["location"]) == ("transacoes-release", SETTINGS.region)
    assert trigger["filename"] == "cloudbuild.yaml" and (ROOT / "cloudbuild.yaml").exists()
    assert trigger["serviceAccount"] == "sa-build-id"
    assert trigger["substitutions"] == {
        "_REGION": "us-central1",
        "_REPOSITORY": "dataflow",
        "_TEMPLATE_BUCKET": SETTINGS.templates_bucket,
    }
    [repository] = of_type(stack.resources, "cloudbuildv2/repository:Repository").values()
    assert repository == {
        "project": SETTINGS.project,
        "location": SETTINGS.region,
        "name": "transacoes-streaming",
        "parentConnection": "transacoes-github",
        "remoteUri": "https://github.com/my-github-org/transacoes-streaming.git",
    }
    [connection] = of_type(stack.resources, "cloudbuildv2/connection:Connection").values()
    assert connection == {"project": SETTINGS.project, "location": SETTINGS.region, "name": "transacoes-github"}
    assert stack.imported["github-connection"] == (
        "projects/my-project/locations/us-central1/connections/transacoes-github"
    ), "the connection the manual step made is imported, never created empty"


def test_the_runbooks_trigger_is_the_programs_as_gcloud_sends_it(stack: Built, tmp_path: Path) -> None:
    [command] = [c for c in shell_commands(DEPLOY_DOC) if c.startswith("gcloud builds triggers create")]
    variables = {
        "PROJECT": "my-project",
        "REGION": "us-central1",
        "OWNER": "my-github-org",
        "GITHUB_REPO": "transacoes-streaming",
        "CONNECTION": "transacoes-github",
        "REPO": "dataflow",
        "TEMPLATES": SETTINGS.templates_bucket,
        "BUILD_SA": "transacoes-build@my-project.iam.gserviceaccount.com",
    }
    with google_api(tmp_path / "gcloud", "cloudbuild") as (environment, recorded):
        environment["CLOUDSDK_CORE_PROJECT"] = variables["PROJECT"]  # the runbook's `gcloud config set project`
        done = subprocess.run(["bash", "-u", "-c", command], env={**environment, **variables}, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
    [(method, path, body)] = recorded.requests
    assert (method, path.split("?")[0]) == ("POST", "/v1/projects/my-project/locations/us-central1/triggers")
    [trigger] = of_type(stack.resources, "cloudbuild/trigger:Trigger").values()
    repository = (
        "projects/my-project/locations/us-central1/connections/transacoes-github/repositories/transacoes-streaming"
    )
    assert body == {
        "name": trigger["name"],
        "filename": trigger["filename"],
        "repositoryEventConfig": {**trigger["repositoryEventConfig"], "repository": repository},
        "serviceAccount": f"projects/my-project/serviceAccounts/{variables['BUILD_SA']}",
        "substitutions": trigger["substitutions"],
    }
    assert stack.outputs["release_trigger"] == "transacoes-release"


def test_the_image_repository_and_the_templates_are_read_from_the_resources(stack: Built) -> None:
    assert stack.outputs["image_repository"] == "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template"
    assert stack.outputs["stream_template"] == (
        f"gs://{SETTINGS.templates_bucket}/templates/transacoes-stream-latest.json"
    )
    assert stack.outputs["backfill_template"] == (
        f"gs://{SETTINGS.templates_bucket}/templates/transacoes-backfill-latest.json"
    )
    assert stack.outputs["dataflow_service_account"] == MOCKED_EMAIL.format("transacoes-dataflow")


# Adoption


def test_adopt_imports_every_resource_the_runbook_makes_the_trigger_too() -> None:
    """``adopt=true`` imports the runbook's trigger instead of creating a second ``transacoes-release``
    beside it; the mocks see each ``import`` id (pulumi's developer docs, ``architecture/import.md``:
    a resource already in the stack with the same import id "is treated like any other resource")."""
    adopted = build(with_settings(adopt=True))
    ids = program.import_ids(SETTINGS)
    assert adopted.imported == {name: ids[name] for name in adopted.imported}
    declared = {name for _, name, _ in adopted.resources}
    assert set(ids) <= declared
    assert (
        adopted.imported["release-trigger"] == "projects/my-project/locations/us-central1/triggers/transacoes-release"
    )
    assert set(adopted.imported) == set(ids), "every runbook resource is imported"
    assert set(build(SETTINGS).imported) == {"github-connection"}, "without adopt, only the hand-made connection"


def test_import_ids_name_declared_resources_in_the_forms_pulumi_import_takes(stack: Built) -> None:
    declared = {name for _, name, _ in stack.resources}
    ids = program.import_ids(SETTINGS)
    assert set(ids) <= declared
    unmapped = {
        name
        for typ, name, _ in stack.resources
        if not re.search(r"(IAMMember|IamMember|GCPolicy|Dashboard|AlertPolicy|NotificationChannel)$", typ)
    } - set(ids)
    assert unmapped == set(), "every resource the runbook makes can be adopted"
    forms = {
        "service-": r"my-project/[a-z]+\.googleapis\.com",
        "workers-subnetwork": r"projects/my-project/regions/us-central1/subnetworks/transacoes-workers",
        "workers-firewall": r"projects/my-project/global/firewalls/transacoes-workers-internal",
        "repository": r"projects/my-project/locations/us-central1/repositories/dataflow",
        "templates-bucket": r"my-project-dataflow-templates",
        "temp-bucket": r"my-project-dataflow-temp",
        "instance": r"projects/my-project/instances/transacoes-prod",
        "table": r"projects/my-project/instances/transacoes-prod/tables/transacoes",
        "rollups-table": r"projects/my-project/instances/transacoes-prod/tables/transacoes_rollups",
        "forgotten-table": r"projects/my-project/instances/transacoes-prod/tables/transacoes_forgotten",
        "backfill-app-profile": r"projects/my-project/instances/transacoes-prod/appProfiles/backfill-low-priority",
        "topic": r"projects/my-project/topics/transacoes",
        "dead-letter-topic": r"projects/my-project/topics/transacoes-dead-letter",
        "subscription": r"projects/my-project/subscriptions/transacoes-pipeline",
        "dead-letter-subscription": r"projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "smoke-subscription": r"projects/my-project/subscriptions/transacoes-dead-letter-smoke",
        "github-connection": r"projects/my-project/locations/us-central1/connections/transacoes-github",
        "github-repository": r"projects/my-project/locations/us-central1/connections/transacoes-github/repositories/transacoes-streaming",
        "release-trigger": r"projects/my-project/locations/us-central1/triggers/transacoes-release",
        "sa-": r"projects/my-project/serviceAccounts/transacoes-[a-z]+@my-project\.iam\.gserviceaccount\.com",
    }
    for name, value in ids.items():
        form = forms.get(name) or next(
            f for prefix, f in forms.items() if prefix.endswith("-") and name.startswith(prefix)
        )
        assert re.fullmatch(form, value), (name, value)


def section(markdown: str, heading: str) -> str:
    """The text under a ``**heading**`` paragraph start or a ``## heading``, to the next heading."""
    start = markdown.index(heading)
    rest = markdown[start + len(heading) :]
    end = re.search(r"\n(?:##+ |\*\*[A-Z][^*]+\.\*\* )", rest)
    return rest[: end.start()] if end else rest


def test_the_adopt_text_says_what_adopt_changes_and_replaces_the_runbooks_monitoring() -> None:
    """Since pulumi/pulumi#19339 an ``import`` whose inputs differ succeeds and is then updated
    (Pulumi's docs, the ``import`` resource option: "the import will succeed, and the resource will
    then be modified to reflect the inputs in your Pulumi program"). So the runbook makes what the
    program declares (display names, descriptions), the text names what adopting does change, and
    the runbook's dashboard and alert policies, whose ids are the server's, are deleted before the
    ``up`` that makes the program's: otherwise both fire and every notification arrives twice."""
    adopt = section(DEPLOY_DOC, "**Adopting what the runbook made.**")
    assert "pulumi/pulumi#19339" in adopt and "deletion protection" in adopt
    monitoring = ROOT / "deploy" / "monitoring"
    names = [json.loads((monitoring / "dashboard.json").read_text())["displayName"]] + [
        json.loads(path.read_text())["displayName"] for path in sorted((monitoring / "alerts").glob("*.json"))
    ]
    deleting = [c for c in shell_commands(adopt) if " delete" in c or "--filter" in c]
    assert deleting, "the adopt text deletes the runbook's dashboard and alerts"
    filters = " ".join(deleting)
    prefix_match = re.search(r"displayName[:=~]\^?'?\"?([^'\"]+)", filters)
    assert prefix_match is not None, f"the adopt text's deletes filter on no displayName: {filters}"
    prefix = prefix_match.group(1)
    assert all(name.startswith(prefix) for name in names), (prefix, names)
    [accounts] = [c for c in shell_commands(DEPLOY_DOC) if c.startswith("for sa in")]
    assert "--display-name=$sa" in accounts, "the accounts' display names are the program's (account_id)"
    [profile] = [c for c in shell_commands(DEPLOY_DOC) if "app-profiles create" in c]
    assert "--description='backfills: low priority, so a bulk load cannot starve the live stream'" in profile


# Services


API_OF_TYPE = {  # each resource module -> the API the provider calls for it (pulumi-gcp's "API documentation" links)
    "artifactregistry": "artifactregistry.googleapis.com",
    "bigtable": "bigtableadmin.googleapis.com",
    "cloudbuild": "cloudbuild.googleapis.com",
    "cloudbuildv2": "cloudbuild.googleapis.com",
    "compute": "compute.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "pubsub": "pubsub.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "storage": "storage.googleapis.com",
}
API_OF_RESOURCE = {
    "gcp:projects/iAMMember:IAMMember": "cloudresourcemanager.googleapis.com",  # projects.setIamPolicy
    "gcp:projects/service:Service": None,  # the Service Usage API, on in every project
}


def test_every_api_a_declared_resource_needs_is_enabled(stack: Built) -> None:
    """A fresh project has neither the IAM API (service accounts, https://cloud.google.com/iam/docs/service-accounts-create)
    nor Cloud Resource Manager (a project's IAM policy, https://cloud.google.com/resource-manager/reference/rest/v1/projects/setIamPolicy)
    on; the GitHub connection keeps its token in Secret Manager
    (https://cloud.google.com/build/docs/automating-builds/github/connect-repo-github?generation=2nd-gen, "Before you begin")."""
    needed = {"secretmanager.googleapis.com"}
    for typ, _, _ in stack.resources:
        module = typ.split(":")[1].split("/")[0]
        api = API_OF_RESOURCE[typ] if typ in API_OF_RESOURCE else API_OF_TYPE[module]
        if api:
            needed.add(api)
    assert needed == set(program.DECLARED_SERVICES)
    assert set(program.SERVICES) == needed | set(program.RUNTIME_SERVICES)
    services = {inputs["service"] for inputs in of_type(stack.resources, "projects/service:Service").values()}
    assert services == set(program.SERVICES)
    for needs in ("iam.googleapis.com", "cloudresourcemanager.googleapis.com"):
        assert needs in services


def test_the_runbook_enables_the_same_services() -> None:
    runbook = section(DEPLOY_DOC, "### One-time set-up")
    enable = re.search(r"gcloud services enable (.+?)\n\n", runbook, re.S)
    assert enable is not None, "the runbook's one-time set-up has no `gcloud services enable` block"
    block = enable.group(1)
    assert sorted(re.findall(r"[a-z]+\.googleapis\.com", block)) == sorted(program.SERVICES)


# Monitoring


def test_the_dashboard_and_alerts_are_the_monitoring_files_with_the_stacks_job_name(stack: Built) -> None:
    swap = lambda text: text.replace('\\"transacoes-stream\\"', f'\\"{SETTINGS.job_name}\\"')  # noqa: E731
    monitoring = ROOT / "deploy" / "monitoring"
    [dashboard] = of_type(stack.resources, "Dashboard").values()
    assert json.loads(dashboard["dashboardJson"]) == json.loads(swap((monitoring / "dashboard.json").read_text()))
    assert SETTINGS.job_name in dashboard["dashboardJson"]
    alerts = of_type(stack.resources, "AlertPolicy")
    files = sorted((monitoring / "alerts").glob("*.json"))
    assert sorted(alerts) == [f"alert-{path.stem}" for path in files]
    channels = [
        *SETTINGS.notification_channels,
        "projects/my-project/notificationChannels/alert-email-data-ops-example-com",
    ]
    for path in files:
        policy = dict(alerts[f"alert-{path.stem}"])
        assert policy.pop("notificationChannels") == channels
        assert policy.pop("project") == SETTINGS.project
        assert policy == json.loads(swap(path.read_text())), path.name


def test_each_alert_email_becomes_a_channel_the_alerts_notify(stack: Built) -> None:
    """Notification channels of type ``email`` take the address as the ``email_address`` label
    (https://cloud.google.com/monitoring/support/notification-options#email)."""
    [channel] = of_type(stack.resources, "monitoring/notificationChannel:NotificationChannel").values()
    assert (channel["type"], channel["labels"]) == ("email", {"email_address": "data-ops@example.com"})
    assert stack.outputs["alerts_notify"] == [
        "projects/my-project/notificationChannels/1",
        "projects/my-project/notificationChannels/alert-email-data-ops-example-com",
    ]


def test_without_a_channel_pulumi_up_warns_and_the_outputs_say_the_alerts_page_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A policy notifies only its ``notificationChannels`` (Monitoring API, ``AlertPolicy``:
    https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies): with none, an
    incident opens and nobody hears of it."""
    with caplog.at_level(logging.WARNING):
        built = build(with_settings(alert_emails=(), notification_channels=()))
    assert built.outputs["alerts_notify"] == program.NOBODY
    assert any(record.getMessage() == f"the alerts notify {program.NOBODY}" for record in caplog.records)
    assert all(policy["notificationChannels"] == [] for policy in of_type(built.resources, "AlertPolicy").values())


def test_every_alert_field_is_an_argument_of_pulumis_alert_policy() -> None:
    """The alerts go in as plain dictionaries: each key must be one Pulumi's generated argument
    classes know, or the provider would reject it only at ``pulumi up``."""
    import inspect

    import pulumi_gcp as gcp

    def check(value: dict[str, Any], args_class: type[object], where: str) -> None:
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


# The program's shape


def test_every_resource_belongs_to_a_group_of_the_program(stack: Built) -> None:
    """Idiomatic Pulumi groups resources into components (``parent=``): each of ours is a child of
    one of the program's ``transacoes:infra:*`` components, whose URN its own carries."""
    groups = {parent for parent, _, _ in stack.urns}
    custom = [(parent, typ, name) for parent, typ, name in stack.urns if typ.startswith("gcp:")]
    assert len(custom) == len(stack.resources)
    for parent, typ, name in custom:
        assert re.search(r"[:$]transacoes:infra:[A-Za-z]+::", parent), f"{typ} {name} is not in a group"
    kinds = {parent.split("::")[2].split("$")[-1] for parent in groups if "transacoes:infra:" in parent}
    assert kinds == {
        f"transacoes:infra:{kind}"
        for kind in (
            "Services",
            "Network",
            "Storage",
            "Bigtable",
            "PubSub",
            "Accounts",
            "Build",
            "Grants",
            "Monitoring",
        )
    }


def test_a_misspelled_argument_fails_at_construction() -> None:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="transacoes-infra", stack="test", preview=False)
    import pulumi_gcp as gcp

    with pytest.raises(TypeError, match="ack_deadline_second"):
        # misspelled on purpose (the test wants the TypeError it raises): no overload takes it
        gcp.pubsub.Subscription("typo", topic="t", ack_deadline_second=60)  # type: ignore[call-overload]


def test_the_type_checker_is_clean_and_catches_a_misspelled_argument(tmp_path: Path) -> None:
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


def test_the_programs_names_are_the_templates_and_the_tools_defaults() -> None:
    def default(template: str, name: str) -> object:
        return next(p.default for p in of_template(template) if p.name == name)

    assert program.TABLE == defaults.TABLE, "bigtable_table is required; the tools and the README use this name"
    assert program.COLUMN_FAMILY == defaults.COLUMN_FAMILY == default(STREAM, "column_family")
    assert program.ROLLUPS_TABLE == defaults.ROLLUPS_TABLE
    assert program.FORGOTTEN_TABLE == defaults.FORGOTTEN_TABLE == default(STREAM, "forgotten_table")
    assert (program.FORGOTTEN_FAMILY,) == defaults.FORGOTTEN_FAMILIES
    assert program.ACK_DEADLINE_SECONDS == provision.ACK_DEADLINE_SECONDS
    assert tuple(defaults.ROLLUP_FAMILIES) == program.ROLLUP_FAMILIES
    assert (program.TOPIC, program.SUBSCRIPTION) == (defaults.TOPIC, defaults.SUBSCRIPTION)
    assert (program.DEAD_LETTER_TOPIC, program.DEAD_LETTER_SUBSCRIPTION) == (
        defaults.DEAD_LETTER_TOPIC,
        defaults.DEAD_LETTER_SUBSCRIPTION,
    )
    assert default(BACKFILL, "column_family") == program.COLUMN_FAMILY
    assert (
        "--priority=PRIORITY_LOW" in DEPLOY_DOC and f"app-profiles create {program.BACKFILL_APP_PROFILE}" in DEPLOY_DOC
    )


# The launch commands


@pytest.mark.parametrize("template", ["stream", "backfill"])
def test_the_printed_launch_commands_are_accepted_by_gcloud_and_complete(
    stack: Built, template: str, tmp_path: Path
) -> None:
    command = stack.outputs[f"{template}_launch"]
    launch = check_launch(*sent(command, tmp_path))
    environment = launch["environment"]
    assert {field: environment.get(field) for field in WORKERS} == WORKERS
    assert environment["subnetwork"] == stack.outputs["workers_subnetwork"], "the program's own subnetwork"
    assert environment["serviceAccountEmail"] == stack.outputs["dataflow_service_account"]
    assert launch["containerSpecGcsPath"] == stack.outputs[f"{template}_template"]
    image = launch["parameters"]["sdk_container_image"]
    assert image == stack.outputs["image_repository"] + ":latest"
    if template == "stream":
        assert launch["jobName"] == SETTINGS.job_name
    else:
        assert launch["parameters"]["input_file"] == "gs://my-sales-bucket/*.csv", "the stack's backfill bucket"


def test_without_a_backfill_bucket_the_backfill_command_shows_a_placeholder() -> None:
    built = build(with_settings(backfill_bucket=None))
    assert "--parameters=input_file='gs://my-sales-bucket/sales/*.csv'" in built.outputs["backfill_launch"]


# Configuration and outputs, as the docs say them


def test_the_infra_lock_pins_what_pyproject_pins() -> None:
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


def test_the_docs_config_table_and_the_example_stack_name_the_keys_the_program_reads() -> None:
    documented = set()
    for key_cell, *_ in table_after(ROOT / "docs" / "deploy.md", "config key"):
        documented |= set(re.findall(r"`([a-z_:]+)`", key_cell))
    assert documented == config_keys_read()
    example = (INFRA / "Pulumi.example.yaml").read_text()
    used = {key.replace("transacoes-infra:", "") for key in re.findall(r"^  ([a-z_:-]+):", example, re.M)}
    assert used <= config_keys_read(), used - config_keys_read()
    required = {"gcp:project", "region", "zone", "github_owner", "github_repo", "operator", "alert_emails"}
    assert required <= used, "every required key, and who the alerts notify"


def test_the_readme_and_the_docs_ask_for_outputs_the_program_has(stack: Built) -> None:
    for document in (ROOT / "README.md", ROOT / "docs" / "deploy.md"):
        asked = set(re.findall(r"pulumi stack output (\w+)", document.read_text()))
        assert asked and asked <= set(stack.outputs), (document.name, asked - set(stack.outputs))
