"""The Google Cloud set-up of the transacoes Flex Template, as one Pulumi program: everything the
gcloud runbook's one-time set-up creates, except the streaming job itself (docs/deploy.md, "Set-up as
code", says why the job stays with gcloud).

Three things are read, not restated: the IAM grants (``deploy/iam/grants.toml``, the list
docs/iam.md is checked against), the dashboard and alert policies (``deploy/monitoring/*.json``,
with the job and subscription names substituted), and the names below, which a test keeps equal
to the template's parameter defaults and to ``transactions_tools.defaults``. This package runs in
its own environment (``requirements.txt``), never in an image, so it imports none of ours.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

DEPLOY = Path(__file__).resolve().parent.parent

# Names: the template's and the tools' defaults (tests/unit/deploy/test_infra.py keeps them equal).
TOPIC = "transacoes"
SUBSCRIPTION = "transacoes-pipeline"
DEAD_LETTER_TOPIC = "transacoes-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "transacoes-dead-letter-sub"
TABLE = "transacoes"
COLUMN_FAMILY = "dados"
ROLLUPS_TABLE = "transacoes_rollups"
ROLLUP_FAMILIES = ("agg", "ids")
BACKFILL_APP_PROFILE = "backfill-low-priority"
JOB_NAME = "transacoes-stream"
SERVICE_ACCOUNTS = {"dataflow": "transacoes-dataflow", "build": "transacoes-build", "producer": "transacoes-producer"}
IMAGE = "transacoes-template"
RELEASE_TAG_PATTERN = "^v.*$"

SERVICES = (
    "artifactregistry.googleapis.com",
    "bigtable.googleapis.com",
    "bigtableadmin.googleapis.com",
    "cloudbuild.googleapis.com",
    "compute.googleapis.com",
    "dataflow.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
)
ACK_DEADLINE_SECONDS = 60
DEAD_LETTER_RETENTION = "604800s"
"""Seven days: dead letters wait for someone to read them (``transacoes-deadletters``)."""
TEMP_BUCKET_LIFECYCLE = DEPLOY / "temp-bucket-lifecycle.json"
"""Staging and temp files of finished jobs are deleted after a week: the file the gcloud runbook
gives ``gcloud storage buckets update --lifecycle-file``, read here too."""


@dataclass(frozen=True)
class Settings:
    """The stack's configuration (``pulumi config``), with the project's defaults."""

    project: str
    region: str
    zone: str
    github_owner: str
    github_repo: str
    operator: str
    instance: str = "transacoes-prod"
    repository: str = "dataflow"
    nodes: int | None = 1
    min_nodes: int | None = None
    max_nodes: int | None = None
    notification_channels: tuple[str, ...] = ()
    backfill_bucket: str | None = None
    network: str = "default"
    subnetwork: str | None = None
    """``regions/<region>/subnetworks/<name>``; the region's ``default`` when unset."""
    machine_type: str = "n1-standard-2"
    max_workers: int = 10
    job_name: str = JOB_NAME
    """The streaming job's name, which the dashboard and alerts filter on."""
    adopt: bool = False
    """Adopt what the gcloud runbook already made (``import`` ids) instead of creating it."""

    @property
    def templates_bucket(self) -> str:
        return f"{self.project}-dataflow-templates"

    @property
    def temp_bucket(self) -> str:
        return f"{self.project}-dataflow-temp"

    def email(self, member: str) -> str:
        return f"{SERVICE_ACCOUNTS[member]}@{self.project}.iam.gserviceaccount.com"


def settings_from_config() -> Settings:
    config = pulumi.Config()
    gcp_config = pulumi.Config("gcp")
    nodes = config.get_int("nodes")
    min_nodes, max_nodes = config.get_int("min_nodes"), config.get_int("max_nodes")
    if (min_nodes is None) != (max_nodes is None):
        raise ValueError("set both min_nodes and max_nodes (autoscaling), or nodes")
    return Settings(
        project=gcp_config.require("project"),
        region=config.require("region"),
        zone=config.require("zone"),
        github_owner=config.require("github_owner"),
        github_repo=config.require("github_repo"),
        operator=config.require("operator"),
        instance=config.get("instance") or Settings.instance,
        repository=config.get("repository") or Settings.repository,
        nodes=None if min_nodes is not None else (nodes or 1),
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        notification_channels=tuple(config.get_object("notification_channels") or ()),
        backfill_bucket=config.get("backfill_bucket"),
        network=config.get("network") or Settings.network,
        subnetwork=config.get("subnetwork"),
        machine_type=config.get("machine_type") or Settings.machine_type,
        max_workers=config.get_int("max_workers") or Settings.max_workers,
        job_name=config.get("job_name") or JOB_NAME,
        adopt=config.get_bool("adopt") or False,
    )


def import_ids(settings: Settings) -> dict[str, str]:
    """Resource name in this program -> the id ``pulumi import`` (or ``adopt``) takes for it."""
    p, r, i = settings.project, settings.region, settings.instance
    ids = {f"service-{service.split('.')[0]}": f"{p}/{service}" for service in SERVICES}
    ids |= {
        "repository": f"projects/{p}/locations/{r}/repositories/{settings.repository}",
        "templates-bucket": settings.templates_bucket,
        "temp-bucket": settings.temp_bucket,
        "instance": f"projects/{p}/instances/{i}",
        "table": f"projects/{p}/instances/{i}/tables/{TABLE}",
        "rollups-table": f"projects/{p}/instances/{i}/tables/{ROLLUPS_TABLE}",
        "backfill-app-profile": f"projects/{p}/instances/{i}/appProfiles/{BACKFILL_APP_PROFILE}",
        "topic": f"projects/{p}/topics/{TOPIC}",
        "dead-letter-topic": f"projects/{p}/topics/{DEAD_LETTER_TOPIC}",
        "subscription": f"projects/{p}/subscriptions/{SUBSCRIPTION}",
        "dead-letter-subscription": f"projects/{p}/subscriptions/{DEAD_LETTER_SUBSCRIPTION}",
    }
    ids |= {f"sa-{member}": f"projects/{p}/serviceAccounts/{settings.email(member)}" for member in SERVICE_ACCOUNTS}
    return ids


def _options(settings: Settings, name: str, **kwargs: Any) -> pulumi.ResourceOptions:
    adopted = import_ids(settings).get(name) if settings.adopt else None
    return pulumi.ResourceOptions(import_=adopted, **kwargs)


def grants() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "iam" / "grants.toml").read_text())


def monitoring_json(path: Path, settings: Settings) -> dict[str, Any]:
    """A dashboard or alert file, with the job's and subscription's names; the alert text's
    ``${resource.label.project_id}`` stays for Monitoring to fill in."""
    quoted = '\\"{}\\"'  # a name inside a filter or a query: a quote escaped in the JSON string
    text = path.read_text().replace(quoted.format(JOB_NAME), quoted.format(settings.job_name))
    return json.loads(text)


def snake_case(value: Any) -> Any:
    """The Monitoring API's JSON (camelCase keys) as Pulumi's arguments (snake_case keys)."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): snake_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    return value


def declare(settings: Settings) -> dict[str, pulumi.Output[Any] | str]:
    """Every resource; returns the stack's outputs."""
    services = [
        gcp.projects.Service(
            f"service-{service.split('.')[0]}",
            project=settings.project,
            service=service,
            disable_on_destroy=False,
            opts=_options(settings, f"service-{service.split('.')[0]}"),
        )
        for service in SERVICES
    ]
    after_services = {"depends_on": services}

    repository = gcp.artifactregistry.Repository(
        "repository",
        project=settings.project,
        location=settings.region,
        repository_id=settings.repository,
        format="DOCKER",
        opts=_options(settings, "repository", **after_services),
    )

    def bucket(name: str, bucket_name: str, lifecycle_rules: list) -> gcp.storage.Bucket:
        return gcp.storage.Bucket(
            name,
            project=settings.project,
            name=bucket_name,
            location=settings.region,
            uniform_bucket_level_access=True,
            lifecycle_rules=lifecycle_rules or None,
            opts=_options(settings, name, **after_services),
        )

    templates_bucket = bucket("templates-bucket", settings.templates_bucket, [])  # the specs stay
    rules = json.loads(TEMP_BUCKET_LIFECYCLE.read_text())["rule"]
    temp_bucket = bucket(
        "temp-bucket",
        settings.temp_bucket,
        [
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type=rule["action"]["type"]),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=rule["condition"]["age"]),
            )
            for rule in rules
        ],
    )

    instance = gcp.bigtable.Instance(
        "instance",
        project=settings.project,
        name=settings.instance,
        display_name="transacoes",
        clusters=[
            gcp.bigtable.InstanceClusterArgs(
                cluster_id=f"{settings.instance}-c1",
                zone=settings.zone,
                num_nodes=settings.nodes,
                autoscaling_config=None
                if settings.min_nodes is None or settings.max_nodes is None
                else gcp.bigtable.InstanceClusterAutoscalingConfigArgs(
                    min_nodes=settings.min_nodes, max_nodes=settings.max_nodes, cpu_target=70
                ),
            )
        ],
        deletion_protection=True,
        opts=_options(settings, "instance", **after_services),
    )
    tables = {}
    for name, table_id, families in (
        ("table", TABLE, (COLUMN_FAMILY,)),
        ("rollups-table", ROLLUPS_TABLE, ROLLUP_FAMILIES),
    ):
        tables[name] = gcp.bigtable.Table(
            name,
            project=settings.project,
            instance_name=instance.name,
            name=table_id,
            column_families=[gcp.bigtable.TableColumnFamilyArgs(family=family) for family in families],
            opts=_options(settings, name),
        )
        for family in families:
            gcp.bigtable.GCPolicy(
                f"{name}-{family}-gc",
                project=settings.project,
                instance_name=instance.name,
                table=tables[name].name,
                column_family=family,
                max_versions=[gcp.bigtable.GCPolicyMaxVersionArgs(number=1)],
                deletion_policy="ABANDON",
                opts=pulumi.ResourceOptions(depends_on=[tables[name]]),
            )
    gcp.bigtable.AppProfile(
        "backfill-app-profile",
        project=settings.project,
        instance=instance.name,
        app_profile_id=BACKFILL_APP_PROFILE,
        description="backfills: low priority, so a bulk load cannot starve the live stream",
        multi_cluster_routing_use_any=True,
        standard_isolation=gcp.bigtable.AppProfileStandardIsolationArgs(priority="PRIORITY_LOW"),
        ignore_warnings=True,
        opts=_options(settings, "backfill-app-profile"),
    )

    topics = {
        name: gcp.pubsub.Topic(
            name, project=settings.project, name=topic_id, opts=_options(settings, name, **after_services)
        )
        for name, topic_id in (("topic", TOPIC), ("dead-letter-topic", DEAD_LETTER_TOPIC))
    }
    subscriptions = {
        "subscription": gcp.pubsub.Subscription(
            "subscription",
            project=settings.project,
            name=SUBSCRIPTION,
            topic=topics["topic"].id,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),  # a stopped job's backlog stays
            opts=_options(settings, "subscription"),
        ),
        "dead-letter-subscription": gcp.pubsub.Subscription(
            "dead-letter-subscription",
            project=settings.project,
            name=DEAD_LETTER_SUBSCRIPTION,
            topic=topics["dead-letter-topic"].id,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            message_retention_duration=DEAD_LETTER_RETENTION,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            opts=_options(settings, "dead-letter-subscription"),
        ),
    }

    accounts = {
        member: gcp.serviceaccount.Account(
            f"sa-{member}",
            project=settings.project,
            account_id=account_id,
            display_name=account_id,
            opts=_options(settings, f"sa-{member}", **after_services),
        )
        for member, account_id in SERVICE_ACCOUNTS.items()
    }
    declare_grants(
        settings,
        {  # each grant's `on`, as grants.toml says it -> the name its IAM member takes
            f"repository {settings.repository}": repository.repository_id,
            f"bucket {settings.temp_bucket}": temp_bucket.name,
            f"bucket {settings.templates_bucket}": templates_bucket.name,
            f"subscription {SUBSCRIPTION}": subscriptions["subscription"].name,
            f"topic {DEAD_LETTER_TOPIC}": topics["dead-letter-topic"].name,
            f"topic {TOPIC}": topics["topic"].name,
            f"instance {settings.instance}": instance.name,
            f"service account {settings.email('dataflow')}": accounts["dataflow"].name,
            f"project {settings.project}": pulumi.Output.from_input(settings.project),
        },
    )

    gcp.cloudbuild.Trigger(
        "release-trigger",
        project=settings.project,
        location=settings.region,
        name="transacoes-release",
        github=gcp.cloudbuild.TriggerGithubArgs(
            owner=settings.github_owner,
            name=settings.github_repo,
            push=gcp.cloudbuild.TriggerGithubPushArgs(tag=RELEASE_TAG_PATTERN),
        ),
        filename="cloudbuild.yaml",
        service_account=accounts["build"].id,
        substitutions={
            "_REGION": settings.region,
            "_REPOSITORY": settings.repository,
            "_TEMPLATE_BUCKET": settings.templates_bucket,
        },
        opts=pulumi.ResourceOptions(depends_on=services),
    )

    gcp.monitoring.Dashboard(
        "dashboard",
        project=settings.project,
        dashboard_json=json.dumps(monitoring_json(DEPLOY / "monitoring" / "dashboard.json", settings)),
        opts=pulumi.ResourceOptions(depends_on=services),
    )
    for path in sorted((DEPLOY / "monitoring" / "alerts").glob("*.json")):
        policy = snake_case(monitoring_json(path, settings))
        gcp.monitoring.AlertPolicy(
            f"alert-{path.stem}",
            project=settings.project,
            notification_channels=list(settings.notification_channels),
            opts=pulumi.ResourceOptions(depends_on=services),
            **policy,
        )

    image = f"{settings.region}-docker.pkg.dev/{settings.project}/{settings.repository}/{IMAGE}"
    return {
        "image_repository": image,
        "stream_template": f"gs://{settings.templates_bucket}/templates/transacoes-stream-latest.json",
        "backfill_template": f"gs://{settings.templates_bucket}/templates/transacoes-backfill-latest.json",
        "dataflow_service_account": accounts["dataflow"].email,
        "build_service_account": accounts["build"].email,
        "producer_service_account": accounts["producer"].email,
        "stream_launch": launch_command(settings, "stream"),
        "backfill_launch": launch_command(settings, "backfill"),
    }


Target = pulumi.Output[str]
_IAM_MEMBER: dict[str, Callable[[str, str, str, Target, Settings], pulumi.CustomResource]] = {
    "project": lambda name, role, member, target, s: gcp.projects.IAMMember(
        name, project=target, role=role, member=member
    ),
    "repository": lambda name, role, member, target, s: gcp.artifactregistry.RepositoryIamMember(
        name, project=s.project, location=s.region, repository=target, role=role, member=member
    ),
    "bucket": lambda name, role, member, target, s: gcp.storage.BucketIAMMember(
        name, bucket=target, role=role, member=member
    ),
    "subscription": lambda name, role, member, target, s: gcp.pubsub.SubscriptionIAMMember(
        name, project=s.project, subscription=target, role=role, member=member
    ),
    "topic": lambda name, role, member, target, s: gcp.pubsub.TopicIAMMember(
        name, project=s.project, topic=target, role=role, member=member
    ),
    "instance": lambda name, role, member, target, s: gcp.bigtable.InstanceIamMember(
        name, project=s.project, instance=target, role=role, member=member
    ),
    "service account": lambda name, role, member, target, s: gcp.serviceaccount.IAMMember(
        name, service_account_id=target, role=role, member=member
    ),
}
"""Kind of resource a grant is ``on`` -> the IAM member resource that binds a role there."""


def declare_grants(settings: Settings, targets: dict[str, Target]) -> None:
    """One IAM member per grant of ``deploy/iam/grants.toml``, on the resource it names; a grant
    marked ``command = false`` (a backfill's input bucket) only when the stack names that bucket."""
    variables = {
        "$PROJECT": settings.project,
        "$REPO": settings.repository,
        "$TEMP": settings.temp_bucket,
        "$TEMPLATES": settings.templates_bucket,
        "$INSTANCE": settings.instance,
        "$DATAFLOW_SA": settings.email("dataflow"),
        "$BUILD_SA": settings.email("build"),
        "$PRODUCER_SA": settings.email("producer"),
        "$OPERATOR": settings.operator,
    }

    def substitute(text: str) -> str:
        return re.sub(r"\$[A-Z_]+", lambda match: variables[match.group(0)], text)

    listed = grants()
    for grant in listed["grant"]:
        member = substitute(listed["members"][grant["member"]]["member"])
        on = substitute(grant["on"])
        if not grant.get("command", True):
            if settings.backfill_bucket is None:
                continue
            on = f"bucket {settings.backfill_bucket}"
            targets = {**targets, on: pulumi.Output.from_input(settings.backfill_bucket)}
        kind = next(kind for kind in _IAM_MEMBER if on.startswith(kind + " "))
        name = f"grant-{grant['member']}-{grant['role'].removeprefix('roles/')}-{kind.replace(' ', '-')}"
        _IAM_MEMBER[kind](name, grant["role"], member, targets[on], settings)


def launch_command(settings: Settings, template: str) -> str:
    """docs/deploy.md's launch command for the stream or a backfill, with this stack's values."""
    parameters = {
        "stream": [
            f"input_subscription=projects/{settings.project}/subscriptions/{SUBSCRIPTION}",
            f"dead_letter_topic=projects/{settings.project}/topics/{DEAD_LETTER_TOPIC}",
            f"bigtable_instance={settings.instance},bigtable_table={TABLE}",
            f"rollups_table={ROLLUPS_TABLE}",
        ],
        "backfill": [
            "input_file='gs://my-sales-bucket/sales/*.csv'",
            f"dead_letter_topic=projects/{settings.project}/topics/{DEAD_LETTER_TOPIC}",
            f"bigtable_instance={settings.instance},bigtable_table={TABLE}",
            f"bigtable_app_profile={BACKFILL_APP_PROFILE}",
        ],
    }[template]
    image = f"{settings.region}-docker.pkg.dev/{settings.project}/{settings.repository}/{IMAGE}:latest"
    name = settings.job_name if template == "stream" else "transacoes-backfill-$(date +%Y%m%d)"
    subnetwork = settings.subnetwork or f"regions/{settings.region}/subnetworks/default"
    lines = [
        f"gcloud dataflow flex-template run {name}",
        f"--template-file-gcs-location=gs://{settings.templates_bucket}/templates/transacoes-{template}-latest.json",
        f"--region={settings.region} --service-account-email={settings.email('dataflow')}"
        + (" --enable-streaming-engine" if template == "stream" else ""),
        f"--staging-location=gs://{settings.temp_bucket}/staging --temp-location=gs://{settings.temp_bucket}/temp",
        f"--network={settings.network} --subnetwork={subnetwork} --disable-public-ips",
        f"--worker-machine-type={settings.machine_type} --max-workers={settings.max_workers}",
        *(f"--parameters={parameter}" for parameter in parameters),
        f"--parameters=sdk_container_image={image}",
    ]
    return " \\\n  ".join(lines)


def main() -> None:
    for name, value in declare(settings_from_config()).items():
        pulumi.export(name, value)
