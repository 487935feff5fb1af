"""The IAM grants: one list (deploy/iam/grants.toml), the docs' table and commands equal to it,
and every permission the job and its operator need held through a granted role.

What each role holds is read from deploy/iam/roles.toml, copied from Google's IAM role reference
with a link per role; it lists only the permissions this project relies on.
"""

import re
import tomllib
from pathlib import Path

import pytest

from tests.markdown import table_after
from transactions_pipeline import preflight

ROOT = Path(__file__).resolve().parents[3]
GRANTS = tomllib.loads((ROOT / "deploy" / "iam" / "grants.toml").read_text())
ROLES = tomllib.loads((ROOT / "deploy" / "iam" / "roles.toml").read_text())
IAM_DOC = (ROOT / "docs" / "iam.md").read_text()

NEEDED = [  # (member, permission, resource kind it is needed on, why)
    ("dataflow", preflight.SUBSCRIPTION_CONSUME, "subscription", "the launch checks test it; the job pulls and acks"),
    ("dataflow", "pubsub.subscriptions.get", "subscription", "the launch check's existence fallback"),
    ("dataflow", preflight.TOPIC_PUBLISH, "topic", "the launch checks test it; dead letters are published"),
    ("dataflow", preflight.BIGTABLE_SCHEMA_READ, "instance", "the launch checks read each table's families"),
    ("dataflow", "bigtable.appProfiles.get", "instance", "the launch checks read the app profile"),
    ("dataflow", "bigtable.tables.mutateRows", "instance", "the job writes rows and rollups"),
    ("dataflow", "bigtable.tables.readRows", "instance", "the rollups read other generations' ids"),
    ("dataflow", "storage.objects.get", "bucket", "the launch checks and the backfill open input files"),
    ("dataflow", "storage.objects.create", "bucket", "staging and temp files"),
    ("dataflow", "artifactregistry.repositories.downloadArtifacts", "repository", "pull the template image"),
    ("dataflow", "dataflow.workItems.lease", "project", "run work items"),
    ("operator", "dataflow.jobs.create", "project", "launch"),
    ("operator", "dataflow.jobs.updateContents", "project", "--update"),
    ("operator", "dataflow.jobs.cancel", "project", "drain, cancel"),
    ("operator", "storage.buckets.get", "project", "the launch reads the staging bucket"),
    ("operator", "compute.machineTypes.get", "project", "the launch reads the worker machine type"),
    ("operator", "storage.objects.get", "project", "the launch reads the template spec"),
    ("operator", "iam.serviceAccounts.actAs", "service account", "run the job as transacoes-dataflow"),
    ("build", "artifactregistry.repositories.uploadArtifacts", "repository", "push images"),
    ("build", "storage.objects.create", "bucket", "write the specs"),
    ("build", "logging.logEntries.create", "project", "build logs"),
    ("producer", "pubsub.topics.publish", "topic", "publish"),
]


def holds(member: str, permission: str, kind: str) -> list[dict]:
    return [
        grant
        for grant in GRANTS["grant"]
        if grant["member"] == member
        and grant["on"].startswith(kind)
        and permission in ROLES[grant["role"]]["permissions"]
    ]


@pytest.mark.parametrize("member, permission, kind, why", NEEDED, ids=[f"{m}:{p}" for m, p, _, _ in NEEDED])
def test_every_needed_permission_is_held_through_a_granted_role(member, permission, kind, why):
    assert holds(member, permission, kind), f"{member} lacks {permission} on a {kind} ({why})"


def test_each_role_the_launch_checks_name_holds_the_permission_and_is_granted():
    for permission, role in preflight.ROLE_TO_GRANT.items():
        assert permission in ROLES[role]["permissions"], role
        assert any(g["member"] == "dataflow" and g["role"] == role for g in GRANTS["grant"]), role


def test_every_granted_role_is_recorded_with_its_google_source():
    for grant in GRANTS["grant"]:
        role = ROLES[grant["role"]]
        assert re.match(r"https://cloud\.google\.com/(iam/docs/roles-permissions|dataflow/docs)/", role["source"])
        assert role["permissions"] and grant["why"]


def test_the_operator_holds_no_broader_role_than_it_needs():
    """``roles/dataflow.developer`` lacks what a launch reads; ``roles/dataflow.admin`` is the
    narrowest predefined role with it (Google's Dataflow access-control page)."""
    developer = set(ROLES["roles/dataflow.developer"]["permissions"])
    assert {"storage.buckets.get", "compute.machineTypes.get"}.isdisjoint(developer)
    operator_roles = [g["role"] for g in GRANTS["grant"] if g["member"] == "operator"]
    assert operator_roles == ["roles/dataflow.admin", "roles/iam.serviceAccountUser"]


def test_the_docs_table_is_the_grants_file():
    expected, last = [], None
    for grant in GRANTS["grant"]:
        who = GRANTS["members"][grant["member"]]["who"] if grant["member"] != last else ""
        last = grant["member"]
        role = f"[`{grant['role']}`]({ROLES[grant['role']]['source']})"
        expected.append([who, role, grant["on"], grant["why"]])
    assert table_after(ROOT / "docs" / "iam.md", "who") == expected


RESOURCE_OF_COMMAND = {
    "projects": "project {}",
    "artifacts repositories": "repository {}",
    "storage buckets": "bucket {}",
    "pubsub subscriptions": "subscription {}",
    "pubsub topics": "topic {}",
    "bigtable instances": "instance {}",
    "iam service-accounts": "service account {}",
}


def test_the_docs_commands_bind_exactly_the_grants():
    bound = []
    for command in re.findall(r"^bind (.+)$", IAM_DOC, re.M):
        group, resource = re.match(r"([a-z-]+(?: [a-z-]+)?) add-iam-policy-binding (\S+)", command).groups()
        member = re.search(r"--member=(\S+)", command).group(1)
        role = re.search(r"--role=(\S+)", command).group(1)
        bound.append((member, role, RESOURCE_OF_COMMAND[group].format(resource.removeprefix("gs://"))))
    members = {name: spec["member"] for name, spec in GRANTS["members"].items()}
    expected = [
        (members[grant["member"]], grant["role"], grant["on"])
        for grant in GRANTS["grant"]
        if grant.get("command", True)
    ]
    assert bound == expected
