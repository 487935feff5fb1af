"""The Google Cloud set-up of the transacoes Flex Template, as one Pulumi program: everything the
gcloud runbook's one-time set-up creates, except the streaming job itself (docs/deploy.md, "Set-up as
code", says why the job stays with gcloud) and the GitHub connection's one browser step.

The resources are grouped the way the set-up is read, one ``ComponentResource`` each: the enabled
services, the workers' network, storage, Bigtable, Pub/Sub, the service accounts, the build (image
repository, GitHub connection, release trigger), the IAM grants and the monitoring. Every output is
derived from a resource (the image repository from the ``Repository``, the template paths from the
bucket, an account's email from the ``Account``), never restated from the configuration, so Pulumi
orders each use after what it uses.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

DEPLOY = Path(__file__).resolve().parent.parent
COMPONENT = "transacoes:infra:{}"
"""The type token of each group of resources (its URN's parent type)."""

# Names: the template's and the tools' defaults (tests/unit/deploy/test_infra.py keeps them equal).
TOPIC = "transacoes"
SUBSCRIPTION = "transacoes-pipeline"
DEAD_LETTER_TOPIC = "transacoes-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "transacoes-dead-letter-sub"
SMOKE_SUBSCRIPTION = "transacoes-dead-letter-smoke"
"""``deploy/smoke`` counts its own run's dead letters here, so the operator needs no right to create
subscriptions and the smoke never takes what ``transacoes-dead-letter-sub`` keeps for people."""
TABLE = "transacoes"
COLUMN_FAMILY = "dados"
ROLLUPS_TABLE = "transacoes_rollups"
ROLLUP_FAMILIES = ("agg", "ids")
FORGOTTEN_TABLE = "transacoes_forgotten"
"""Who asked to be forgotten (``transacoes-forget`` writes it, the job reads it: docs/data-lifecycle.md)."""
FORGOTTEN_FAMILY = "forgotten"
BACKFILL_APP_PROFILE = "backfill-low-priority"
JOB_NAME = "transacoes-stream"
SERVICE_ACCOUNTS = {"dataflow": "transacoes-dataflow", "build": "transacoes-build", "producer": "transacoes-producer"}
ACCOUNT_VARIABLES = {"$DATAFLOW_SA": "dataflow", "$BUILD_SA": "build", "$PRODUCER_SA": "producer"}
"""grants.toml's variable for each of the program's accounts: a grant naming one is bound to that
``Account`` resource's ``email``, never to a string, so Pulumi creates the account first."""
IMAGE = "transacoes-template"
TRIGGER = "transacoes-release"
RELEASE_TAG_PATTERN = "^v.*$"
WORKERS_SUBNETWORK = "transacoes-workers"
WORKERS_FIREWALL = "transacoes-workers-internal"
WORKER_TAG = "dataflow"
"""The network tag Dataflow gives its worker VMs; the firewall rule lets them reach each other."""
WORKER_PORTS = "12345-12346"
"""TCP ports Dataflow's workers use between each other (Dataflow's "Configure internet access and
firewall rules" page); the default network's own rule covers only its 10.128.0.0/9 ranges."""

DECLARED_SERVICES = (
    "artifactregistry.googleapis.com",
    "bigtableadmin.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
"""The APIs the provider calls to create this program's resources (a test maps each resource type
to its API): IAM for the accounts, Resource Manager for the project's IAM policy, Secret Manager for
the GitHub connection's token."""
RUNTIME_SERVICES = (
    "bigtable.googleapis.com",
    "dataflow.googleapis.com",
    "logging.googleapis.com",
    "run.googleapis.com",
)
"""The APIs the job, the build and the producer call at run time, which no resource here needs."""
SERVICES = tuple(sorted(DECLARED_SERVICES + RUNTIME_SERVICES))
ACK_DEADLINE_SECONDS = 60
INPUT_RETENTION = "604800s"
"""Seven days of acknowledged messages on the input subscription, so ``transacoes-rewind`` can seek
the job back (``transactions.retention.SUBSCRIPTION_RETENTION_SECONDS``; a test keeps them equal)."""
DEAD_LETTER_RETENTION = "604800s"
"""Seven days: dead letters wait for someone to read them (``transacoes-deadletters``)."""
SMOKE_RETENTION = "86400s"
"""A day: ``deploy/smoke`` reads its dead letters within minutes; the rest need not pile up."""
TEMP_BUCKET_LIFECYCLE = DEPLOY / "temp-bucket-lifecycle.json"
"""Temp files of finished jobs (``temp/``, never ``staging/``) are deleted after a week: the file
the gcloud runbook gives ``gcloud storage buckets update --lifecycle-file``, read here too."""


@dataclass(frozen=True)
class Settings:
    """The stack's configuration (``pulumi config``), with the project's defaults."""

    project: str
    region: str
    zone: str
    github_owner: str
    github_repo: str
    operator: str
    alert_emails: tuple[str, ...] = ()
    """Who the alerts notify: each address becomes an e-mail notification channel."""
    notification_channels: tuple[str, ...] = ()
    """Channels that exist already (``projects/<project>/notificationChannels/<id>``), added to those."""
    instance: str = "transacoes-prod"
    repository: str = "dataflow"
    nodes: int | None = 1
    min_nodes: int | None = None
    max_nodes: int | None = None
    backfill_bucket: str | None = None
    network: str = "default"
    workers_range: str = "10.100.0.0/24"
    """The workers' subnetwork's range: outside the default network's 10.128.0.0/9."""
    machine_type: str = "n1-standard-2"
    max_workers: int = 10
    job_name: str = JOB_NAME
    """The streaming job's name, which the dashboard and alerts filter on."""
    github_connection: str = "transacoes-github"
    """The Cloud Build connection to GitHub that docs/deploy.md's one manual step creates."""
    adopt: bool = False
    """Adopt what the gcloud runbook already made (``import`` ids) instead of creating it."""

    @property
    def templates_bucket(self) -> str:
        return f"{self.project}-dataflow-templates"

    @property
    def temp_bucket(self) -> str:
        return f"{self.project}-dataflow-temp"

    def email(self, member: str) -> str:
        """An account's address, for the ids an adoption imports (grants use the ``Account``)."""
        return f"{SERVICE_ACCOUNTS[member]}@{self.project}.iam.gserviceaccount.com"


def settings_from_config() -> Settings:
    config = pulumi.Config()
    gcp_config = pulumi.Config("gcp")
    nodes = config.get_int("nodes")
    min_nodes, max_nodes = config.get_int("min_nodes"), config.get_int("max_nodes")
    if (min_nodes is None) != (max_nodes is None):
        raise ValueError("set both min_nodes and max_nodes (autoscaling), or nodes")
    emails = tuple(config.get_object("alert_emails") or ())
    if bad := [email for email in emails if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email))]:
        raise ValueError(f"alert_emails: not e-mail addresses: {bad}")
    return Settings(
        project=gcp_config.require("project"),
        region=config.require("region"),
        zone=config.require("zone"),
        github_owner=config.require("github_owner"),
        github_repo=config.require("github_repo"),
        operator=config.require("operator"),
        alert_emails=emails,
        notification_channels=tuple(config.get_object("notification_channels") or ()),
        instance=config.get("instance") or Settings.instance,
        repository=config.get("repository") or Settings.repository,
        nodes=None if min_nodes is not None else (nodes or 1),
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        backfill_bucket=config.get("backfill_bucket"),
        network=config.get("network") or Settings.network,
        workers_range=config.get("workers_range") or Settings.workers_range,
        machine_type=config.get("machine_type") or Settings.machine_type,
        max_workers=config.get_int("max_workers") or Settings.max_workers,
        job_name=config.get("job_name") or JOB_NAME,
        github_connection=config.get("github_connection") or Settings.github_connection,
        adopt=config.get_bool("adopt") or False,
    )


# What each table, family and subscription is: one place to change a retention or a GC rule.


@dataclass(frozen=True)
class Family:
    """A column family and its garbage collection: a cell goes when it is older than ``max_age_days``
    (its timestamp is the event time) or not among the newest ``max_versions`` (a union)."""

    name: str
    max_age_days: int
    max_versions: int = 1


GC_MAX_AGE_DAYS = {COLUMN_FAMILY: 1827, "agg": 1096, "ids": 32, FORGOTTEN_FAMILY: 1827}
"""``transactions.retention.GC_RULES``' max ages (docs/bigtable-layout.md, "Retention", says why;
tests/unit/deploy/test_infra.py keeps them equal): five years of transactions, three of totals,
the counted ids for the lateness plus the longest backfill overlap, and a forgotten user's entry
as long as the transactions it guards."""


@dataclass(frozen=True)
class TableSpec:
    resource: str
    table_id: str
    families: tuple[Family, ...]


TABLES = (
    TableSpec("table", TABLE, (Family(COLUMN_FAMILY, GC_MAX_AGE_DAYS[COLUMN_FAMILY]),)),
    TableSpec("rollups-table", ROLLUPS_TABLE, tuple(Family(name, GC_MAX_AGE_DAYS[name]) for name in ROLLUP_FAMILIES)),
    TableSpec("forgotten-table", FORGOTTEN_TABLE, (Family(FORGOTTEN_FAMILY, GC_MAX_AGE_DAYS[FORGOTTEN_FAMILY]),)),
)


@dataclass(frozen=True)
class SubscriptionSpec:
    resource: str
    subscription_id: str
    topic: str
    """The resource name of its topic in this program."""
    message_retention_duration: str | None = None
    """Pub/Sub's default (7 days) when None."""
    retain_acked_messages: bool | None = None
    """Keep acknowledged messages for the retention, so the subscription can be seeked back."""


TOPICS = {"topic": TOPIC, "dead-letter-topic": DEAD_LETTER_TOPIC}
SUBSCRIPTIONS = (
    SubscriptionSpec("subscription", SUBSCRIPTION, "topic", INPUT_RETENTION, retain_acked_messages=True),
    SubscriptionSpec("dead-letter-subscription", DEAD_LETTER_SUBSCRIPTION, "dead-letter-topic", DEAD_LETTER_RETENTION),
    SubscriptionSpec("smoke-subscription", SMOKE_SUBSCRIPTION, "dead-letter-topic", SMOKE_RETENTION),
)


# Adoption: what the gcloud runbook made, imported by id.


ALWAYS_IMPORTED = ("github-connection",)
"""Resources made by hand before the first ``pulumi up`` (the GitHub connection needs a browser),
imported on every run: once in the stack, an ``import`` id is a no-op (pulumi's import design)."""


def import_ids(settings: Settings) -> dict[str, str]:
    """Resource name in this program -> the id ``pulumi import`` (or ``adopt``) takes for it."""
    p, r, i = settings.project, settings.region, settings.instance
    connection = f"projects/{p}/locations/{r}/connections/{settings.github_connection}"
    ids = {f"service-{service.split('.')[0]}": f"{p}/{service}" for service in SERVICES}
    ids |= {
        "workers-subnetwork": f"projects/{p}/regions/{r}/subnetworks/{WORKERS_SUBNETWORK}",
        "workers-firewall": f"projects/{p}/global/firewalls/{WORKERS_FIREWALL}",
        "repository": f"projects/{p}/locations/{r}/repositories/{settings.repository}",
        "templates-bucket": settings.templates_bucket,
        "temp-bucket": settings.temp_bucket,
        "instance": f"projects/{p}/instances/{i}",
        **{spec.resource: f"projects/{p}/instances/{i}/tables/{spec.table_id}" for spec in TABLES},
        "backfill-app-profile": f"projects/{p}/instances/{i}/appProfiles/{BACKFILL_APP_PROFILE}",
        **{name: f"projects/{p}/topics/{topic}" for name, topic in TOPICS.items()},
        **{spec.resource: f"projects/{p}/subscriptions/{spec.subscription_id}" for spec in SUBSCRIPTIONS},
        "github-connection": connection,
        "github-repository": f"{connection}/repositories/{settings.github_repo}",
        # The Cloud Build API takes a trigger's name where its id goes ("Identifier (id or name)").
        "release-trigger": f"projects/{p}/locations/{r}/triggers/{TRIGGER}",
    }
    ids |= {f"sa-{member}": f"projects/{p}/serviceAccounts/{settings.email(member)}" for member in SERVICE_ACCOUNTS}
    return ids


class Group(pulumi.ComponentResource):
    """A group of resources: each child is declared through :meth:`options`, which parents it here,
    aliases its URN from before the grouping (children of the stack itself), imports it when the
    stack adopts the runbook's resources, and orders it after the enabled services."""

    def __init__(self, kind: str, settings: Settings, after: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__(COMPONENT.format(kind), kind.lower())
        self.settings = settings
        self.after = list(after)

    def options(self, name: str, **kwargs: Any) -> pulumi.ResourceOptions:
        imported = name in ALWAYS_IMPORTED or self.settings.adopt
        kwargs.setdefault("depends_on", self.after)
        return pulumi.ResourceOptions(
            parent=self,
            aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)],
            import_=import_ids(self.settings).get(name) if imported else None,
            **kwargs,
        )


class Services(Group):
    """Every API the set-up and the job call, on before anything else is made; a destroy leaves
    them on (``disable_on_destroy=False``): other things in the project may use them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("Services", settings)
        self.enabled = [
            gcp.projects.Service(
                f"service-{service.split('.')[0]}",
                project=settings.project,
                service=service,
                disable_on_destroy=False,
                opts=self.options(f"service-{service.split('.')[0]}"),
            )
            for service in SERVICES
        ]
        self.register_outputs({})


class Network(Group):
    """The workers' own subnetwork, with Private Google Access: launched with
    ``--disable-public-ips``, workers reach Pub/Sub, Bigtable and Artifact Registry only through it."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("Network", settings, after)
        self.subnetwork = gcp.compute.Subnetwork(
            "workers-subnetwork",
            project=settings.project,
            name=WORKERS_SUBNETWORK,
            network=settings.network,
            region=settings.region,
            ip_cidr_range=settings.workers_range,
            private_ip_google_access=True,
            opts=self.options("workers-subnetwork"),
        )
        self.firewall = gcp.compute.Firewall(
            "workers-firewall",
            project=settings.project,
            name=WORKERS_FIREWALL,
            network=settings.network,
            direction="INGRESS",
            source_tags=[WORKER_TAG],
            target_tags=[WORKER_TAG],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[WORKER_PORTS])],
            opts=self.options("workers-firewall"),
        )
        self.path = pulumi.Output.concat("regions/", self.subnetwork.region, "/subnetworks/", self.subnetwork.name)
        """The ``--subnetwork`` form of the launch commands."""
        self.register_outputs({"subnetwork": self.path})


def temp_lifecycle_rules() -> list[gcp.storage.BucketLifecycleRuleArgs]:
    """``deploy/temp-bucket-lifecycle.json`` (the Cloud Storage JSON form) as Pulumi's arguments."""
    return [
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type=rule["action"]["type"]),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                age=rule["condition"]["age"], matches_prefixes=rule["condition"]["matchesPrefix"]
            ),
        )
        for rule in json.loads(TEMP_BUCKET_LIFECYCLE.read_text())["rule"]
    ]


class Storage(Group):
    """The templates bucket (the specs stay) and the jobs' staging and temp bucket."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("Storage", settings, after)
        self.templates_bucket = self._bucket("templates-bucket", settings.templates_bucket, None)
        self.temp_bucket = self._bucket("temp-bucket", settings.temp_bucket, temp_lifecycle_rules())
        self.register_outputs({"templates_bucket": self.templates_bucket.name, "temp_bucket": self.temp_bucket.name})

    def _bucket(
        self, name: str, bucket_name: str, rules: list[gcp.storage.BucketLifecycleRuleArgs] | None
    ) -> gcp.storage.Bucket:
        return gcp.storage.Bucket(
            name,
            project=self.settings.project,
            name=bucket_name,
            location=self.settings.region,
            uniform_bucket_level_access=True,
            lifecycle_rules=rules,
            opts=self.options(name),
        )


class Bigtable(Group):
    """The instance, the tables (protected: a ``pulumi destroy`` stops before deleting data), one GC
    policy per family, and the backfills' low-priority app profile."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("Bigtable", settings, after)
        autoscaling = None
        if settings.min_nodes is not None and settings.max_nodes is not None:
            autoscaling = gcp.bigtable.InstanceClusterAutoscalingConfigArgs(
                min_nodes=settings.min_nodes, max_nodes=settings.max_nodes, cpu_target=70
            )
        self.instance = gcp.bigtable.Instance(
            "instance",
            project=settings.project,
            name=settings.instance,
            display_name="transacoes",
            clusters=[
                gcp.bigtable.InstanceClusterArgs(
                    cluster_id=f"{settings.instance}-c1",
                    zone=settings.zone,
                    num_nodes=settings.nodes,
                    autoscaling_config=autoscaling,
                )
            ],
            deletion_protection=True,
            opts=self.options("instance"),
        )
        self.tables = {spec.resource: self._table(spec) for spec in TABLES}
        gcp.bigtable.AppProfile(
            "backfill-app-profile",
            project=settings.project,
            instance=self.instance.name,
            app_profile_id=BACKFILL_APP_PROFILE,
            description="backfills: low priority, so a bulk load cannot starve the live stream",
            multi_cluster_routing_use_any=True,
            standard_isolation=gcp.bigtable.AppProfileStandardIsolationArgs(priority="PRIORITY_LOW"),
            ignore_warnings=True,
            opts=self.options("backfill-app-profile"),
        )
        self.register_outputs({"instance": self.instance.name})

    def _table(self, spec: TableSpec) -> gcp.bigtable.Table:
        table = gcp.bigtable.Table(
            spec.resource,
            project=self.settings.project,
            instance_name=self.instance.name,
            name=spec.table_id,
            column_families=[gcp.bigtable.TableColumnFamilyArgs(family=family.name) for family in spec.families],
            deletion_protection="PROTECTED",
            opts=self.options(spec.resource),
        )
        for family in spec.families:
            gcp.bigtable.GCPolicy(
                f"{spec.resource}-{family.name}-gc",
                project=self.settings.project,
                instance_name=self.instance.name,
                table=table.name,
                column_family=family.name,
                mode="UNION",
                max_age=gcp.bigtable.GCPolicyMaxAgeArgs(duration=f"{family.max_age_days * 24}h"),
                max_versions=[gcp.bigtable.GCPolicyMaxVersionArgs(number=family.max_versions)],
                deletion_policy="ABANDON",
                opts=self.options(f"{spec.resource}-{family.name}-gc", depends_on=[table]),
            )
        return table


class PubSub(Group):
    """The input and dead-letter topics and their subscriptions (ack deadline 60 s; a stopped job's
    backlog stays: no subscription expires)."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("PubSub", settings, after)
        self.topics = {
            name: gcp.pubsub.Topic(name, project=settings.project, name=topic_id, opts=self.options(name))
            for name, topic_id in TOPICS.items()
        }
        self.subscriptions = {spec.resource: self._subscription(spec) for spec in SUBSCRIPTIONS}
        self.register_outputs({})

    def _subscription(self, spec: SubscriptionSpec) -> gcp.pubsub.Subscription:
        return gcp.pubsub.Subscription(
            spec.resource,
            project=self.settings.project,
            name=spec.subscription_id,
            topic=self.topics[spec.topic].id,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            message_retention_duration=spec.message_retention_duration,
            retain_acked_messages=spec.retain_acked_messages,
            opts=self.options(spec.resource),
        )


class Accounts(Group):
    """The job's, the build's and the producer's service accounts."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("Accounts", settings, after)
        self.accounts = {
            member: gcp.serviceaccount.Account(
                f"sa-{member}",
                project=settings.project,
                account_id=account_id,
                display_name=account_id,
                opts=self.options(f"sa-{member}"),
            )
            for member, account_id in SERVICE_ACCOUNTS.items()
        }
        self.register_outputs({member: account.email for member, account in self.accounts.items()})


class Build(Group):
    """The image repository, the repository's link through the GitHub connection (second
    generation: the connection itself is made by hand once, docs/deploy.md), and the trigger that
    builds ``cloudbuild.yaml`` as ``transacoes-build`` on a version tag."""

    def __init__(
        self, settings: Settings, build_account: gcp.serviceaccount.Account, after: Sequence[pulumi.Resource]
    ) -> None:
        super().__init__("Build", settings, after)
        self.repository = gcp.artifactregistry.Repository(
            "repository",
            project=settings.project,
            location=settings.region,
            repository_id=settings.repository,
            format="DOCKER",
            opts=self.options("repository"),
        )
        self.connection = gcp.cloudbuildv2.Connection(
            "github-connection",
            project=settings.project,
            location=settings.region,
            name=settings.github_connection,
            # Its GitHub app installation and token are what the browser step made: kept as they are.
            opts=self.options("github-connection", ignore_changes=["githubConfig"]),
        )
        self.github_repository = gcp.cloudbuildv2.Repository(
            "github-repository",
            project=settings.project,
            location=settings.region,
            name=settings.github_repo,
            parent_connection=self.connection.name,
            remote_uri=f"https://github.com/{settings.github_owner}/{settings.github_repo}.git",
            opts=self.options("github-repository"),
        )
        self.trigger = gcp.cloudbuild.Trigger(
            "release-trigger",
            project=settings.project,
            location=settings.region,
            name=TRIGGER,
            repository_event_config=gcp.cloudbuild.TriggerRepositoryEventConfigArgs(
                repository=self.github_repository.id,
                push=gcp.cloudbuild.TriggerRepositoryEventConfigPushArgs(tag=RELEASE_TAG_PATTERN),
            ),
            filename="cloudbuild.yaml",
            service_account=build_account.id,
            substitutions={
                "_REGION": settings.region,
                "_REPOSITORY": settings.repository,
                "_TEMPLATE_BUCKET": settings.templates_bucket,
            },
            opts=self.options("release-trigger"),
        )
        self.image = pulumi.Output.concat(
            self.repository.location,
            "-docker.pkg.dev/",
            self.repository.project,
            "/",
            self.repository.repository_id,
            f"/{IMAGE}",
        )
        self.register_outputs({"image_repository": self.image, "release_trigger": self.trigger.name})


def grants() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "iam" / "grants.toml").read_text())


Target = pulumi.Output[str]
IAM_KINDS = ("project", "repository", "bucket", "subscription", "topic", "instance", "service account", "connection")
"""The kinds of resource a grant can be ``on`` (grants.toml's first words)."""


def grant_name(grant: Mapping[str, Any]) -> str:
    """The IAM member's resource name: who, which role, on what (unique per grant)."""
    on = re.sub(r"[^a-z0-9.]+", "-", grant["on"].lower().replace("$", "")).strip("-")
    return f"grant-{grant['member']}-{grant['role'].removeprefix('roles/')}-{on}"


class Grants(Group):
    """One IAM member per grant of ``deploy/iam/grants.toml``, on the resource it names; a grant
    marked ``command = false`` (a backfill's input bucket) only when the stack names that bucket.
    A member that is one of the program's accounts is that ``Account``'s ``email`` output."""

    def __init__(
        self,
        settings: Settings,
        accounts: Mapping[str, gcp.serviceaccount.Account],
        targets: Mapping[str, Target],
        after: Sequence[pulumi.Resource],
    ) -> None:
        super().__init__("Grants", settings, after)
        listed = grants()
        self.bound: dict[str, pulumi.CustomResource] = {}
        for grant in listed["grant"]:
            on, target = grant["on"], targets.get(grant["on"])
            if not grant.get("command", True):
                if settings.backfill_bucket is None:
                    continue
                on, target = "bucket of a backfill", pulumi.Output.from_input(settings.backfill_bucket)
            if target is None:
                raise KeyError(f"grants.toml grants on {grant['on']!r}, which this program does not declare")
            kind = next(kind for kind in IAM_KINDS if on.startswith(kind + " "))
            member = self._member(listed["members"][grant["member"]]["member"], accounts)
            name = grant_name(grant)
            self.bound[name] = self._bind(kind, name, grant["role"], member, target)
        self.register_outputs({})

    def _member(self, spec: str, accounts: Mapping[str, gcp.serviceaccount.Account]) -> pulumi.Input[str]:
        for variable, account in ACCOUNT_VARIABLES.items():
            if variable in spec:
                prefix, suffix = spec.split(variable)
                return pulumi.Output.concat(prefix, accounts[account].email, suffix)
        return spec.replace("$OPERATOR", self.settings.operator)

    def _bind(
        self, kind: str, name: str, role: str, member: pulumi.Input[str], target: Target
    ) -> pulumi.CustomResource:
        s, opts = self.settings, self.options(name)
        common: dict[str, Any] = {"role": role, "member": member, "opts": opts}
        match kind:
            case "project":
                return gcp.projects.IAMMember(name, project=target, **common)
            case "repository":
                return gcp.artifactregistry.RepositoryIamMember(
                    name, project=s.project, location=s.region, repository=target, **common
                )
            case "bucket":
                return gcp.storage.BucketIAMMember(name, bucket=target, **common)
            case "subscription":
                return gcp.pubsub.SubscriptionIAMMember(name, project=s.project, subscription=target, **common)
            case "topic":
                return gcp.pubsub.TopicIAMMember(name, project=s.project, topic=target, **common)
            case "instance":
                return gcp.bigtable.InstanceIamMember(name, project=s.project, instance=target, **common)
            case "service account":
                return gcp.serviceaccount.IAMMember(name, service_account_id=target, **common)
            case "connection":
                return gcp.cloudbuildv2.ConnectionIAMMember(
                    name, project=s.project, location=s.region, name=target, **common
                )
        raise ValueError(f"no IAM member for a grant on a {kind}")


def monitoring_json(path: Path, settings: Settings) -> dict[str, Any]:
    """A dashboard or alert file, with the job's and subscription's names; the alert text's
    ``${project}`` stays for Monitoring to fill in."""
    quoted = '\\"{}\\"'  # a name inside a filter or a query: a quote escaped in the JSON string
    text = path.read_text().replace(quoted.format(JOB_NAME), quoted.format(settings.job_name))
    return dict(json.loads(text))


def snake_case(value: Any) -> Any:
    """The Monitoring API's JSON (camelCase keys) as Pulumi's arguments (snake_case keys)."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): snake_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    return value


NOBODY = "nobody: set alert_emails (pulumi config set --path 'alert_emails[0]' you@example.com)"


class Monitoring(Group):
    """An e-mail channel per ``alert_emails`` address, the dashboard, and the alert policies, each
    notifying those channels and ``notification_channels``. With neither, ``pulumi up`` warns and
    the ``alerts_notify`` output says the alerts page nobody."""

    def __init__(self, settings: Settings, after: Sequence[pulumi.Resource]) -> None:
        super().__init__("Monitoring", settings, after)
        channels = [self._channel(email) for email in settings.alert_emails]
        self.channels: pulumi.Output[list[str]] = pulumi.Output.all(
            *settings.notification_channels, *(channel.name for channel in channels)
        ).apply(list)
        if not settings.alert_emails and not settings.notification_channels:
            pulumi.log.warn(f"the alerts notify {NOBODY}")
        self.notify: pulumi.Output[Any] = self.channels.apply(lambda names: names or NOBODY)
        gcp.monitoring.Dashboard(
            "dashboard",
            project=settings.project,
            dashboard_json=json.dumps(monitoring_json(DEPLOY / "monitoring" / "dashboard.json", settings)),
            opts=self.options("dashboard"),
        )
        for path in sorted((DEPLOY / "monitoring" / "alerts").glob("*.json")):
            policy = snake_case(monitoring_json(path, settings))
            gcp.monitoring.AlertPolicy(
                f"alert-{path.stem}",
                project=settings.project,
                notification_channels=self.channels,
                opts=self.options(f"alert-{path.stem}"),
                **policy,
            )
        self.register_outputs({"alerts_notify": self.notify})

    def _channel(self, email: str) -> gcp.monitoring.NotificationChannel:
        name = f"alert-email-{re.sub(r'[^a-z0-9]+', '-', email.lower())}"
        return gcp.monitoring.NotificationChannel(
            name,
            project=self.settings.project,
            type="email",
            display_name=f"transacoes alerts: {email}",
            labels={"email_address": email},
            opts=self.options(name),
        )


@dataclass(frozen=True)
class Launch:
    """What a launch command names, every value read from a resource of the stack."""

    project: str
    region: str
    job_name: str
    templates_bucket: str
    temp_bucket: str
    service_account: str
    network: str
    subnetwork: str
    machine_type: str
    max_workers: int
    image_repository: str
    instance: str
    backfill_bucket: str | None = None


def launch_command(template: str, launch: Launch) -> str:
    """docs/deploy.md's launch command for the stream or a backfill, with this stack's values."""
    input_file = (
        f"gs://{launch.backfill_bucket}/*.csv" if launch.backfill_bucket else "gs://my-sales-bucket/sales/*.csv"
    )
    parameters = {
        "stream": [
            f"input_subscription=projects/{launch.project}/subscriptions/{SUBSCRIPTION}",
            f"dead_letter_topic=projects/{launch.project}/topics/{DEAD_LETTER_TOPIC}",
            f"bigtable_instance={launch.instance},bigtable_table={TABLE}",
            f"rollups_table={ROLLUPS_TABLE}",
        ],
        "backfill": [
            f"input_file='{input_file}'",
            f"dead_letter_topic=projects/{launch.project}/topics/{DEAD_LETTER_TOPIC}",
            f"bigtable_instance={launch.instance},bigtable_table={TABLE}",
            f"bigtable_app_profile={BACKFILL_APP_PROFILE}",
        ],
    }[template]
    name = launch.job_name if template == "stream" else "transacoes-backfill-$(date +%Y%m%d)"
    lines = [
        f"gcloud dataflow flex-template run {name}",
        f"--template-file-gcs-location={template_path(launch.templates_bucket, template)}",
        f"--region={launch.region} --service-account-email={launch.service_account}"
        + (" --enable-streaming-engine" if template == "stream" else ""),
        f"--staging-location=gs://{launch.temp_bucket}/staging --temp-location=gs://{launch.temp_bucket}/temp",
        f"--network={launch.network} --subnetwork={launch.subnetwork} --disable-public-ips",
        f"--worker-machine-type={launch.machine_type} --max-workers={launch.max_workers}",
        *(f"--parameters={parameter}" for parameter in parameters),
        f"--parameters=sdk_container_image={launch.image_repository}:latest",
    ]
    return " \\\n  ".join(lines)


def template_path(bucket: str, template: str) -> str:
    """The ``latest`` spec a release tag moves (cloudbuild.yaml's release-latest step)."""
    return f"gs://{bucket}/templates/transacoes-{template}-latest.json"


def declare(settings: Settings) -> dict[str, pulumi.Output[Any]]:
    """Every resource; returns the stack's outputs."""
    services = Services(settings).enabled
    network = Network(settings, services)
    storage = Storage(settings, services)
    bigtable = Bigtable(settings, services)
    pubsub = PubSub(settings, services)
    accounts = Accounts(settings, services).accounts
    build = Build(settings, accounts["build"], services)
    targets: dict[str, Target] = {
        "project $PROJECT": pulumi.Output.from_input(settings.project),
        "repository $REPO": build.repository.repository_id,
        "bucket $TEMP": storage.temp_bucket.name,
        "bucket $TEMPLATES": storage.templates_bucket.name,
        "instance $INSTANCE": bigtable.instance.name,
        "connection $CONNECTION": build.connection.name,
        **{f"topic {topic_id}": pubsub.topics[name].name for name, topic_id in TOPICS.items()},
        **{f"subscription {s.subscription_id}": pubsub.subscriptions[s.resource].name for s in SUBSCRIPTIONS},
        **{f"service account {variable}": accounts[m].name for variable, m in ACCOUNT_VARIABLES.items()},
    }
    Grants(settings, accounts, targets, services)
    monitoring = Monitoring(settings, services)

    def launch(values: list[Any]) -> Launch:
        templates, temp, email, subnetwork, image = values
        return Launch(
            project=settings.project,
            region=settings.region,
            job_name=settings.job_name,
            templates_bucket=templates,
            temp_bucket=temp,
            service_account=email,
            network=settings.network,
            subnetwork=subnetwork,
            machine_type=settings.machine_type,
            max_workers=settings.max_workers,
            image_repository=image,
            instance=settings.instance,
            backfill_bucket=settings.backfill_bucket,
        )

    launches = pulumi.Output.all(
        storage.templates_bucket.name,
        storage.temp_bucket.name,
        accounts["dataflow"].email,
        network.path,
        build.image,
    ).apply(launch)
    return {
        "image_repository": build.image,
        "stream_template": storage.templates_bucket.name.apply(lambda bucket: template_path(bucket, "stream")),
        "backfill_template": storage.templates_bucket.name.apply(lambda bucket: template_path(bucket, "backfill")),
        "dataflow_service_account": accounts["dataflow"].email,
        "build_service_account": accounts["build"].email,
        "producer_service_account": accounts["producer"].email,
        "workers_subnetwork": network.path,
        "release_trigger": build.trigger.name,
        "alerts_notify": monitoring.notify,
        "stream_launch": launches.apply(lambda values: launch_command("stream", values)),
        "backfill_launch": launches.apply(lambda values: launch_command("backfill", values)),
    }


def main() -> None:
    for name, value in declare(settings_from_config()).items():
        pulumi.export(name, value)
