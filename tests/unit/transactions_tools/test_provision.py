"""``transacoes-provision``: what it creates, what it leaves as it is, and what it refuses.

The three clients (``transactions_wire.clients``: publisher, subscriber, Bigtable admin) are
replaced by one scripted world of topics, subscriptions and tables that records each request and
answers ``AlreadyExists`` for what is there: what is checked is which requests are made, with
which settings, and what is said. The real emulators are ``tests/integration/test_provision_emulator.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.bigtable import column_family

from tests.output import one_clean_line
from transactions_tools import provision
from transactions_wire import clients

KEEP_ONE = column_family.MaxVersionsGCRule(1)


def union(days: int) -> column_family.GCRuleUnion:
    return column_family.GCRuleUnion([KEEP_ONE, column_family.MaxAgeGCRule(timedelta(days=days))])


RULES = {"dados": union(1827), "agg": union(1096), "ids": union(32), "forgotten": union(1827)}


@dataclass
class World:
    topics: set[str] = field(default_factory=set)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # "project/instance/table" -> families
    requests: list[tuple[str, Any]] = field(default_factory=list)

    # Pub/Sub
    def create_topic(self, name: str) -> None:
        self.requests.append(("create_topic", name))
        if name in self.topics:
            raise api_exceptions.AlreadyExists(name)
        self.topics.add(name)

    def create_subscription(self, request: dict[str, Any]) -> None:
        self.requests.append(("create_subscription", request))
        if request["name"] in self.subscriptions:
            raise api_exceptions.AlreadyExists(request["name"])
        self.subscriptions[request["name"]] = request

    def get_subscription(self, subscription: str) -> Any:
        request = self.subscriptions[subscription]
        duration = request.get("message_retention_duration")
        return SimpleNamespace(
            retain_acked_messages=request.get("retain_acked_messages", False),
            message_retention_duration=timedelta(seconds=duration["seconds"]) if duration else None,
        )

    def update_subscription(self, request: dict[str, Any]) -> None:
        self.requests.append(("update_subscription", request))
        self.subscriptions[request["subscription"]["name"]].update(request["subscription"])


@dataclass
class Table:
    world: World
    path: str

    def exists(self) -> bool:
        return self.path in self.world.tables

    def create(self, column_families: dict[str, Any]) -> None:
        self.world.requests.append(("create_table", (self.path, column_families)))
        self.world.tables[self.path] = dict(column_families)

    def list_column_families(self) -> dict[str, Any]:
        return {name: SimpleNamespace(gc_rule=rule) for name, rule in self.world.tables[self.path].items()}

    def column_family(self, name: str, rule: Any) -> Any:
        table = self

        class Family:
            def create(self) -> None:
                table.world.requests.append(("create_family", (table.path, name, rule)))
                table.world.tables[table.path][name] = rule

            def update(self) -> None:
                table.world.requests.append(("update_family", (table.path, name, rule)))
                table.world.tables[table.path][name] = rule

        return Family()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    scripted = World()

    @contextmanager
    def pubsub_client(*args: Any) -> Iterator[World]:
        yield scripted

    @contextmanager
    def bigtable_admin(project: str) -> Iterator[Any]:
        class Client:
            def instance(self, instance: str) -> Any:
                class Instance:
                    def table(self, table: str) -> Table:
                        return Table(scripted, f"{project}/{instance}/{table}")

                return Instance()

        yield Client()

    monkeypatch.setattr(clients, "pubsub_publisher", pubsub_client)
    monkeypatch.setattr(clients, "pubsub_subscriber", pubsub_client)
    monkeypatch.setattr(clients, "bigtable_admin", bigtable_admin)
    return scripted


def run(resources: provision.Resources) -> list[str]:
    said: list[str] = []
    provision.provision(resources, log=said.append)
    return said


def test_everything_missing_is_created(world):
    said = run(provision.Resources(project="my-project", instance="inst-1"))
    assert said == [
        "created topic projects/my-project/topics/transacoes",
        "created topic projects/my-project/topics/transacoes-dead-letter",
        "created subscription projects/my-project/subscriptions/transacoes-pipeline",
        "created subscription projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "created table projects/my-project/instances/inst-1/tables/transacoes (dados)",
        "created table projects/my-project/instances/inst-1/tables/transacoes_rollups (agg, ids)",
        "created table projects/my-project/instances/inst-1/tables/transacoes_forgotten (forgotten)",
    ]
    assert world.subscriptions["projects/my-project/subscriptions/transacoes-pipeline"] == {
        "name": "projects/my-project/subscriptions/transacoes-pipeline",
        "topic": "projects/my-project/topics/transacoes",
        "ack_deadline_seconds": 60,
        "expiration_policy": {},  # present and empty: never expires
        "retain_acked_messages": True,  # transacoes-rewind seeks back into them
        "message_retention_duration": {"seconds": 604800},
    }
    assert world.subscriptions["projects/my-project/subscriptions/transacoes-dead-letter-sub"] == {
        "name": "projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "topic": "projects/my-project/topics/transacoes-dead-letter",
        "ack_deadline_seconds": 60,
        "expiration_policy": {},
    }
    assert world.tables == {
        "my-project/inst-1/transacoes": {"dados": RULES["dados"]},
        "my-project/inst-1/transacoes_rollups": {"agg": RULES["agg"], "ids": RULES["ids"]},
        "my-project/inst-1/transacoes_forgotten": {"forgotten": RULES["forgotten"]},
    }


def test_what_exists_is_left_as_it_is_and_a_missing_family_added(world):
    resources = provision.Resources(project="my-project", instance="inst-1", bigtable_project="bt-project")
    run(resources)
    del world.tables["bt-project/inst-1/transacoes_rollups"]["ids"]
    world.requests.clear()
    said = run(resources)
    assert said == [
        "exists: topic projects/my-project/topics/transacoes",
        "exists: topic projects/my-project/topics/transacoes-dead-letter",
        "exists: subscription projects/my-project/subscriptions/transacoes-pipeline",
        "exists: subscription projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "exists: table projects/bt-project/instances/inst-1/tables/transacoes with family dados",
        "exists: table projects/bt-project/instances/inst-1/tables/transacoes_rollups with family agg",
        "created column family ids in projects/bt-project/instances/inst-1/tables/transacoes_rollups",
        "exists: table projects/bt-project/instances/inst-1/tables/transacoes_forgotten with family forgotten",
    ]
    assert not any(kind == "create_table" for kind, _ in world.requests)
    assert ("create_family", ("bt-project/inst-1/transacoes_rollups", "ids", RULES["ids"])) in world.requests


def test_an_older_deployment_gets_the_retention_table_and_the_retained_subscription(world):
    """Made before retention: one version only, no acknowledged messages kept. Provisioning again
    brings both to the retention table, and a third run changes nothing."""
    resources = provision.Resources(project="my-project", instance="inst-1", rollups_table="", forgotten_table="")
    run(resources)
    world.tables["my-project/inst-1/transacoes"]["dados"] = KEEP_ONE
    input_path = "projects/my-project/subscriptions/transacoes-pipeline"
    for key in ("retain_acked_messages", "message_retention_duration"):
        del world.subscriptions[input_path][key]
    said = run(resources)
    assert said[2:] == [
        f"exists: subscription {input_path}",
        f"updated subscription {input_path}: keeps acknowledged messages 7 days",
        "exists: subscription projects/my-project/subscriptions/transacoes-dead-letter-sub",
        "updated the GC rule of family dados in projects/my-project/instances/inst-1/tables/transacoes: "
        "maxage=1827d or maxversions=1",
    ]
    assert world.tables["my-project/inst-1/transacoes"]["dados"] == RULES["dados"]
    assert world.subscriptions[input_path]["retain_acked_messages"] is True
    assert world.subscriptions[input_path]["message_retention_duration"] == {"seconds": 604800}
    world.requests.clear()
    said = run(resources)
    assert [kind for kind, _ in world.requests if kind.startswith("update")] == []
    assert said[-1] == "exists: table projects/my-project/instances/inst-1/tables/transacoes with family dados"


def test_an_empty_rollups_or_forgotten_table_is_none(world):
    said = run(provision.Resources(project="my-project", instance="inst-1", rollups_table="", forgotten_table=""))
    assert said[-1] == "created table projects/my-project/instances/inst-1/tables/transacoes (dados)"
    assert list(world.tables) == ["my-project/inst-1/transacoes"]


def test_main_takes_every_name_and_provisions_them(monkeypatch):
    asked: list[provision.Resources] = []
    monkeypatch.setattr(provision, "provision", asked.append)
    argv = ["--project", "my-project", "--instance", "inst-1", "--topic", "incoming", "--rollups-table", ""]
    assert provision.main([*argv, "--bigtable-project", "bt-project", "--column-family", "cf"]) == 0
    assert asked == [
        provision.Resources(
            project="my-project",
            instance="inst-1",
            topic="incoming",
            rollups_table="",
            bigtable_project="bt-project",
            column_family="cf",
        )
    ]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--instance", "inst-1"], "the following arguments are required: --project"),
        (["--project", "p", "--instance", "inst-1"], "--project: 'p' is not a project id"),
        (["--project", "my-project", "--instance", "inst-1", "--dead-letter-topic", "1x"], "--dead-letter-topic: '1x'"),
        (["--project", "my-project", "--instance", "inst-1", "--table", ""], "--table: '' is not a table id"),
    ],
)
def test_a_bad_name_is_refused_before_anything_is_created(argv, says, capsys, monkeypatch):
    monkeypatch.setattr(provision, "provision", lambda resources: pytest.fail("provisioned"))
    with pytest.raises(SystemExit) as stop:
        provision.main(argv)
    assert stop.value.code == 2
    assert says in one_clean_line(capsys.readouterr().err, 300)
