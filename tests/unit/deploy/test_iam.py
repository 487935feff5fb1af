"""The IAM grants: one list (deploy/iam/grants.toml), the docs' table and commands equal to it,
and every permission the job and its operator need held through a granted role.

What each role holds is read from deploy/iam/roles.toml, copied from Google's IAM role reference
with a link per role; it lists only the permissions this project relies on.
"""

import re
import subprocess
import sys
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
    operator_roles = {(g["role"], g["on"]) for g in GRANTS["grant"] if g["member"] == "operator"}
    project_wide = {role for role, on in operator_roles if on == "project $PROJECT"}
    assert project_wide == {"roles/dataflow.admin", "roles/run.developer", "roles/cloudbuild.builds.editor"}, (
        "a role on the project only where the permission is the project's (creating a job, a build)"
    )
    broad = {role for role, _ in operator_roles if role in {"roles/owner", "roles/editor"} or role.endswith(".admin")}
    assert broad == {"roles/dataflow.admin"}


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
    "builds connections": "connection {}",
}


def test_the_docs_commands_bind_exactly_the_grants():
    bound = []
    for command in re.findall(r"^bind (.+)$", IAM_DOC, re.M):
        binding = re.match(r"([a-z-]+(?: [a-z-]+)?) add-iam-policy-binding (\S+)", command)
        assert binding is not None, f"not an add-iam-policy-binding command: bind {command}"
        member_match = re.search(r"--member=(\S+)", command)
        assert member_match is not None, f"no --member: bind {command}"
        role_match = re.search(r"--role=(\S+)", command)
        assert role_match is not None, f"no --role: bind {command}"
        group, resource = binding.groups()
        member, role = member_match.group(1), role_match.group(1)
        bound.append((member, role, RESOURCE_OF_COMMAND[group].format(resource.removeprefix("gs://"))))
    members = {name: spec["member"] for name, spec in GRANTS["members"].items()}
    expected = [
        (members[grant["member"]], grant["role"], grant["on"])
        for grant in GRANTS["grant"]
        if grant.get("command", True)
    ]
    assert bound == expected


# What the operator runs, command by command, and the permissions each needs.

Need = tuple[str, str]
"""(permission, resource it is checked on), in grants.toml's ``on`` vocabulary."""
LAUNCH: list[Need] = [  # https://cloud.google.com/dataflow/docs/concepts/access-control, and NEEDED above
    ("dataflow.jobs.create", "project $PROJECT"),
    ("storage.buckets.get", "bucket $TEMP"),
    ("compute.machineTypes.get", "project $PROJECT"),
    ("storage.objects.get", "bucket $TEMPLATES"),
    ("iam.serviceAccounts.actAs", "service account $DATAFLOW_SA"),
]
SMOKE_SUBSCRIPTION = "subscription transacoes-dead-letter-smoke"
OPERATOR_COMMANDS: list[tuple[str, list[Need]]] = [
    # (a documented command, as a pattern; what it needs), each from Google's page for the call
    (r"[A-Z_]+=\S+( [A-Z_]+=\S+)*$", []),  # shell variables
    (
        r"gcloud dataflow flex-template run \S+ --update ",
        [*LAUNCH, ("dataflow.jobs.updateContents", "project $PROJECT")],
    ),
    (r"gcloud dataflow flex-template run ", LAUNCH),
    (r"JOB=\$\(gcloud dataflow jobs list ", [("dataflow.jobs.list", "project $PROJECT")]),
    (r"gcloud dataflow jobs describe ", [("dataflow.jobs.get", "project $PROJECT")]),
    (r"gcloud dataflow jobs drain ", [("dataflow.jobs.cancel", "project $PROJECT")]),
    # transacoes-deadletters pulls, hands back (deadline 0) or acknowledges: Pub/Sub's "consume"
    # (https://cloud.google.com/pubsub/docs/access-control); replay also publishes to the input topic
    (r"transacoes-deadletters inspect ", [("pubsub.subscriptions.consume", "subscription transacoes-dead-letter-sub")]),
    (
        r"transacoes-deadletters replay ",
        [
            ("pubsub.subscriptions.consume", "subscription transacoes-dead-letter-sub"),
            ("pubsub.topics.publish", "topic transacoes"),
        ],
    ),
    # Cloud Run jobs (https://cloud.google.com/run/docs/create-jobs, "Required roles"): create as
    # the job's service account (act as it), then execute
    (
        r"gcloud run jobs create ",
        [("run.jobs.create", "project $PROJECT"), ("iam.serviceAccounts.actAs", "service account $PRODUCER_SA")],
    ),
    (r"gcloud run jobs execute ", [("run.jobs.run", "project $PROJECT")]),
    (
        r"docker run .* -e PRODUCER_TOPIC=projects/\$PROJECT/topics/transacoes ",
        [("pubsub.topics.publish", "topic transacoes")],
    ),
    (r"\S*python\S* -m producer ", [("pubsub.topics.publish", "topic transacoes")]),
    # deploy/smoke: its own commands (below) are checked one by one; running it needs what they need
    (r"\.venv/bin/python deploy/smoke ", []),
    (r"gcloud builds triggers describe ", [("cloudbuild.builds.get", "project $PROJECT")]),
    (r"gcloud builds repositories describe ", [("cloudbuild.repositories.get", "connection $CONNECTION")]),
    (r"gcloud builds connections describe ", [("cloudbuild.connections.get", "connection $CONNECTION")]),
    (
        r"gcloud builds submit .*--service-account=",
        [
            ("cloudbuild.builds.create", "project $PROJECT"),
            ("iam.serviceAccounts.actAs", "service account $BUILD_SA"),
            ("storage.buckets.get", "bucket $TEMPLATES"),  # the source is uploaded where --gcs-source-staging-dir says
            ("storage.objects.create", "bucket $TEMPLATES"),
        ],
    ),
    (
        r"gcloud pubsub subscriptions seek transacoes-dead-letter-smoke ",
        [("pubsub.subscriptions.consume", SMOKE_SUBSCRIPTION)],
    ),
    (r"cbt .* read transacoes ", [("bigtable.tables.readRows", "instance $INSTANCE")]),
]
SMOKE_WAIT: list[Need] = [  # step 7 runs no command: the observer scans the table and pulls its subscription
    ("bigtable.tables.readRows", "instance $INSTANCE"),
    ("pubsub.subscriptions.consume", SMOKE_SUBSCRIPTION),
]
OPERATOR_SECTIONS = {
    "docs/deploy.md": {
        "Run the stream",
        "Backfill CSV files",
        "Update the stream, drain it",
        "First deployment: `deploy/smoke`",
        "Run the producer",
        "Streaming mode and Streaming Engine",
    },
    "docs/operate.md": {"Dead letters: look, then replay"},
}
ADMIN_SECTIONS = {  # the project's set-up and the maintainers' chores, run by whoever owns the project
    "docs/deploy.md": {
        "Set-up as code: Pulumi",
        "One-time set-up",
        "Build on a tag",
        "Reproducible images",
    },
    "docs/operate.md": set(),
}


def sections_with_commands(document: str) -> dict[str, list[str]]:
    """Heading -> the shell commands of its ``sh`` blocks (continuation lines joined)."""
    found: dict[str, list[str]] = {}
    heading, in_code = "", False
    block: list[str] = []
    for line in (ROOT / document).read_text().splitlines():
        if line.startswith("```"):
            if in_code and block:
                joined = re.sub(r"\\\n\s*", " ", "\n".join(block))
                found.setdefault(heading, []).extend(
                    c.strip() for c in joined.splitlines() if c.strip() and not c.strip().startswith("#")
                )
            in_code, block = line.startswith("```sh") and not in_code, []
        elif in_code:
            block.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found


def needs_of(command: str) -> list[Need]:
    command = re.sub(r"\s+#.*$", "", command)
    for pattern, needs in OPERATOR_COMMANDS:
        if re.match(pattern, command):
            return needs
    raise AssertionError(f"no entry says what this operator command needs: {command}")


def held(permission: str, on: str) -> list[str]:
    """The operator's grants that hold ``permission`` on ``on`` (a grant on the project holds it on
    everything in the project: IAM policies are inherited)."""
    return [
        f"{g['role']} on {g['on']}"
        for g in GRANTS["grant"]
        if g["member"] == "operator"
        and g["on"] in {on, "project $PROJECT"}
        and permission in ROLES[g["role"]]["permissions"]
    ]


def test_every_section_with_commands_is_the_operators_or_the_admins():
    for document, operator in OPERATOR_SECTIONS.items():
        sections = set(sections_with_commands(document))
        assert sections == operator | ADMIN_SECTIONS[document], (
            document,
            sections ^ (operator | ADMIN_SECTIONS[document]),
        )


def operator_commands() -> list[str]:
    commands = [
        c
        for d, names in OPERATOR_SECTIONS.items()
        for n, cs in sections_with_commands(d).items()
        if n in names
        for c in cs
    ]
    printed = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "smoke"), "--print", "--project=p", "--region=r", "--instance=i",
         "--templates-bucket=b", "--temp-bucket=t", "--service-account=s@p.iam.gserviceaccount.com",
         "--build-service-account=b@p.iam.gserviceaccount.com"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    return commands + [line for line in printed.stdout.splitlines() if not line.startswith("# ")]


@pytest.mark.parametrize("command", operator_commands(), ids=lambda c: " ".join(c.split()[:4])[:60])
def test_every_operator_command_in_the_docs_is_allowed_by_the_operators_grants(command):
    """docs/deploy.md and docs/operate.md ask the operator to launch, update and drain the stream, run
    a backfill, inspect and replay dead letters, run the producer on Cloud Run and run
    ``deploy/smoke``; each command's permissions (the table above, from Google's pages for each
    call) must be held through grants.toml's roles, as roles.toml records them."""
    for permission, on in needs_of(command):
        assert held(permission, on), f"the operator lacks {permission} on {on} for: {command}"


def test_what_the_smoke_waits_on_is_allowed_too():
    for permission, on in SMOKE_WAIT:
        assert held(permission, on), f"the operator lacks {permission} on {on}"


def test_the_operator_check_is_not_vacuous():
    assert needs_of("transacoes-deadletters replay --subscription=$DL --topic=x") and needs_of(
        "gcloud run jobs create transacoes-producer --image=$PRODUCER"
    )
    assert not held("pubsub.topics.publish", "topic transacoes-dead-letter"), "the job's, not the operator's"
    with pytest.raises(AssertionError, match="no entry"):
        needs_of("gcloud projects delete $PROJECT")
