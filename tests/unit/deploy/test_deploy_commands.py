"""The documented launch commands, as gcloud sends them.

Every ``gcloud dataflow flex-template run`` command in docs/deploy.md, and the one ``deploy/smoke``
prints, is executed by bash with dummy values for its variables, through the real gcloud,
against a local stand-in for the Dataflow API that records the request body. A command gcloud
rejects fails here; for the ones it sends, the body must name only parameters of that
template's launch form, all its required ones, our worker image, and Streaming Engine for the
stream.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gcloud import fake_dataflow, needs_gcloud
from tests.unit.deploy.google_api import google_api
from transactions.resource_names import FORMS
from transactions_pipeline.parameters import BACKFILL, STREAM, of_template

pytestmark = [pytest.mark.gcloud, needs_gcloud]
ROOT = Path(__file__).resolve().parents[3]
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()
VARIABLES = {
    "PROJECT": "my-project",
    "REGION": "us-central1",
    "REPO": "dataflow",
    "INSTANCE": "transacoes-prod",
    "TEMPLATES": "my-project-dataflow-templates",
    "TEMP": "my-project-dataflow-temp",
    "DATAFLOW_SA": "transacoes-dataflow@my-project.iam.gserviceaccount.com",
    "VERSION": "v1.0.0",
    "IMAGE": "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1.0.0",
    "NETWORK": "transacoes-vpc",
    "SUBNETWORK": "regions/us-central1/subnetworks/transacoes-workers",
    "MACHINE_TYPE": "n2-standard-4",
    "MAX_WORKERS": "7",
}
WORKERS = {  # what the option block of every launch must put in the request (gcloud's field names)
    "network": "transacoes-vpc",
    "subnetwork": "regions/us-central1/subnetworks/transacoes-workers",
    "ipConfiguration": "WORKER_IP_PRIVATE",
    "machineType": "n2-standard-4",
    "maxWorkers": 7,
}


def shell_commands(markdown: str) -> list[str]:
    """Every command of the ```sh blocks, with its continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        commands += [line.strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines()]
    return commands


def launches_in_the_docs() -> list[str]:
    """Every launch of docs/deploy.md's runbook (the at-least-once one has its own test)."""
    launches = [
        c
        for c in shell_commands(DEPLOY_DOC)
        if c.startswith("gcloud dataflow flex-template run") and "streaming_mode_at_least_once" not in c
    ]
    mapping_match = re.search(r"`(--transform-name-mappings=[^`]+)`\s+added to the command above", DEPLOY_DOC)
    assert mapping_match is not None, "docs/deploy.md gives no `--transform-name-mappings=...` to add to the update"
    mapping = mapping_match.group(1)
    [update] = [c for c in launches if "--update" in c]
    return [*launches, f"{update} {mapping}"]


def sent(command: str, tmp_path: Path) -> tuple[str, dict]:
    """(API path, request body) of one command, as gcloud sent it."""
    with fake_dataflow(tmp_path / "gcloud") as (environment, recorded):
        done = subprocess.run(
            ["bash", "-u", "-c", command], env={**environment, **VARIABLES}, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"gcloud rejected:\n{command}\n{done.stderr}"
    [(path, body)] = recorded
    return path, body


def check_launch(path: str, body: dict) -> dict:
    launch = body["launchParameter"]
    template = STREAM if "/transacoes-stream-" in launch["containerSpecGcsPath"] else BACKFILL
    assert re.fullmatch(r"/v1b3/projects/[-a-z]+/locations/us-central1/flexTemplates:launch\?alt=json", path), path
    parameters = launch["parameters"]
    names = {p.name for p in of_template(template)}
    assert set(parameters) <= names, f"not parameters of {template}: {set(parameters) - names}"
    assert {p.name for p in of_template(template) if p.required} <= set(parameters)
    assert FORMS["container_image"].fullmatch(parameters.get("sdk_container_image", "")), "no worker image"
    for name, value in parameters.items():
        parameter = next(p for p in of_template(template) if p.name == name)
        assert parameter.form.fullmatch(value), f"{name}={value!r} breaks the launch form's regex"
    if template == STREAM:
        assert launch["environment"]["enableStreamingEngine"] is True
    return launch


def test_the_documented_at_least_once_launch_carries_exactly_one_streaming_mode_switch(tmp_path):
    """docs/deploy.md's override: with the merged spec's environment, which sets no mode
    (test_merge_spec), the launch's one experiment is the only switch."""
    [command] = [c for c in shell_commands(DEPLOY_DOC) if "streaming_mode_at_least_once" in c]
    launch = check_launch(*sent(command, tmp_path))
    environment = launch["environment"]
    assert environment["additionalExperiments"] == ["streaming_mode_at_least_once"]
    assert "streamingMode" not in environment
    assert {field: environment.get(field) for field in WORKERS} == WORKERS


def test_the_docs_have_a_command_for_each_template_and_for_an_update():
    launches = launches_in_the_docs()
    assert any("transacoes-stream-$VERSION" in c for c in launches)
    assert any("transacoes-backfill-$VERSION" in c for c in launches)
    assert sum("--update" in c for c in launches) == 2


@pytest.mark.parametrize(
    "command", launches_in_the_docs(), ids=lambda c: c.split()[4] + (" update" if "--update" in c else "")
)
def test_every_documented_launch_is_accepted_by_gcloud_and_complete(command, tmp_path):
    launch = check_launch(*sent(command, tmp_path))
    environment = launch["environment"]
    assert {field: environment.get(field) for field in WORKERS} == WORKERS, "the workers' network and scaling block"
    if "--update" in command:
        assert launch["update"] is True
    if "--transform-name-mappings" in command:
        assert launch["transformNameMappings"] == {"WriteToBigtable": "WriteTransactions"}


SMOKE_ARGS = [
    "--project=my-project",
    "--region=us-central1",
    "--instance=transacoes-prod",
    "--templates-bucket=my-project-dataflow-templates",
    "--temp-bucket=my-project-dataflow-temp",
    "--service-account=transacoes-dataflow@my-project.iam.gserviceaccount.com",
    "--build-service-account=transacoes-build@my-project.iam.gserviceaccount.com",
]


def smoke_plan(*extra: str) -> list[str]:
    """The lines ``deploy/smoke --print`` prints: ``# n. step`` and each step's commands."""
    printed = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "smoke"), "--print", *SMOKE_ARGS, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.splitlines()


def test_the_smoke_scripts_launch_is_accepted_by_gcloud_and_complete(tmp_path):
    printed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "smoke"),
            "--print",
            *SMOKE_ARGS,
            *(
                f"--{flag}={VARIABLES[name]}"
                for flag, name in (
                    ("network", "NETWORK"),
                    ("subnetwork", "SUBNETWORK"),
                    ("worker-machine-type", "MACHINE_TYPE"),
                    ("max-workers", "MAX_WORKERS"),
                )
            ),
            "--disable-public-ips",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    steps = [line for line in lines if line.startswith("# ")]
    assert len(steps) == 9 and "drain" in steps[-1]
    [launch_line] = [line for line in lines if line.startswith("gcloud dataflow flex-template run")]
    environment = check_launch(*sent(launch_line, tmp_path))["environment"]
    assert {field: environment.get(field) for field in WORKERS} == WORKERS
    assert any(line.startswith("gcloud builds submit") and "--config=cloudbuild.yaml" in line for line in lines)


REPOSITORY = "projects/my-project/locations/us-central1/connections/transacoes-github/repositories/transacoes-streaming"


def test_the_smoke_checks_that_the_release_trigger_exists_and_sees_its_repository(tmp_path):
    """A second-generation trigger names its repository (``repositoryEventConfig.repository``); the
    repository is linked through a connection, whose ``installationState.stage`` is COMPLETE once
    the GitHub app is installed (Cloud Build v2 API, ``projects.locations.connections``,
    https://cloud.google.com/build/docs/api/reference/rest/v2/projects.locations.connections).
    Each command is sent through gcloud to a local stand-in, with the names the trigger would give."""
    lines = smoke_plan()
    first = lines.index(next(line for line in lines if line.startswith("# 1.")))
    commands = lines[first + 1 : lines.index(next(line for line in lines if line.startswith("# 2.")))]
    assert [c.split()[:4] for c in commands] == [
        ["gcloud", "builds", "triggers", "describe"],
        ["gcloud", "builds", "repositories", "describe"],
        ["gcloud", "builds", "connections", "describe"],
    ]
    names = {
        "'<the trigger'\"'\"'s repository>'": REPOSITORY,
        "'<its connection>'": REPOSITORY.split("/repositories/")[0],
    }
    with google_api(tmp_path / "gcloud", "cloudbuild") as (environment, recorded):
        for command in commands:
            for placeholder, name in names.items():
                command = command.replace(placeholder, name)
            done = subprocess.run(["bash", "-c", command], env=environment, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"gcloud rejected:\n{command}\n{done.stderr}"
    assert [(method, path.split("?")[0]) for method, path, _ in recorded.requests] == [
        ("GET", "/v1/projects/my-project/locations/us-central1/triggers/transacoes-release"),
        ("GET", f"/v2/{REPOSITORY}"),
        ("GET", "/v2/projects/my-project/locations/us-central1/connections/transacoes-github"),
    ]


def test_the_smoke_builds_as_the_build_account_so_it_tests_the_triggers_grants(tmp_path):
    """``gcloud builds submit`` without ``--service-account`` runs as the project's default build
    account, whose grants are not the trigger's. With it, Cloud Build requires the logs in Cloud
    Logging (cloudbuild.yaml's ``options.logging``), and the build account must read the uploaded
    source: it is staged in the templates bucket, where that account already writes
    (https://cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts).
    The command goes through gcloud (the source replaced by ``--no-source``: no upload here)."""
    [submit] = [line for line in smoke_plan() if line.startswith("gcloud builds submit")]
    account = "projects/my-project/serviceAccounts/transacoes-build@my-project.iam.gserviceaccount.com"
    assert f"--service-account={account}" in submit.split()
    assert "--gcs-source-staging-dir=gs://my-project-dataflow-templates/smoke-source" in submit.split()
    builds = "/v1/projects/my-project/locations/us-central1/builds"
    done_build = {
        "id": "b1",
        "projectId": "my-project",
        "status": "SUCCESS",
        "options": {"logging": "CLOUD_LOGGING_ONLY"},
    }
    with google_api(tmp_path / "gcloud", "cloudbuild") as (environment, recorded):
        recorded.answers[builds] = {
            "name": "projects/my-project/locations/us-central1/operations/o1",
            "metadata": {
                "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
                "build": done_build,
            },
        }
        recorded.answers[f"{builds}/b1"] = done_build
        command = submit.replace("'<archive of HEAD>'", "--no-source")
        done = subprocess.run(["bash", "-c", command], env=environment, capture_output=True, text=True, timeout=120,
                              cwd=ROOT)  # fmt: skip
        assert done.returncode == 0, f"gcloud rejected:\n{command}\n{done.stderr}"
    [(_, path, body)] = [r for r in recorded.requests if r[0] == "POST"]
    assert path.split("?")[0] == builds
    assert body["serviceAccount"] == account
    assert body["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert body["substitutions"]["_TEMPLATE_BUCKET"] == "my-project-dataflow-templates"


def test_the_smoke_reads_its_own_dead_letter_subscription_from_an_empty_start(tmp_path):
    """The smoke creates no subscription (the set-up has ``transacoes-dead-letter-smoke``) and counts
    only what arrives after its start: a seek to that time acknowledges older messages
    (https://cloud.google.com/pubsub/docs/replay-overview)."""
    [seek] = [line for line in smoke_plan() if line.startswith("gcloud pubsub")]
    assert seek.split()[:5] == ["gcloud", "pubsub", "subscriptions", "seek", "transacoes-dead-letter-smoke"]
    with google_api(tmp_path / "gcloud", "pubsub") as (environment, recorded):
        done = subprocess.run(["bash", "-c", seek], env=environment, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    [(_, path, body)] = recorded.requests
    assert path.split("?")[0] == "/v1/projects/my-project/subscriptions/transacoes-dead-letter-smoke:seek"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.0+)?Z", body["time"])
    assert not [
        line for line in smoke_plan() if "subscriptions create" in line or "transactions_tools.provision" in line
    ]
