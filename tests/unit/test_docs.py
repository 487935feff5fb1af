"""The design documents in docs/ say what the code does: their tables are checked against it."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from tests.markdown import table_after
from transactions.contract import FIELDS
from transactions.dead_letters import REASONS
from transactions_pipeline import pipeline
from transactions_pipeline.bigtable_writer import BatchLimits, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def unquote(cell: str) -> str:
    return cell.strip("`")


def test_the_field_table_is_the_contract():
    rows = table_after(DOCS / "contract.md", "field")
    assert [(unquote(name), kind, rule) for name, kind, rule in rows] == list(FIELDS)


def test_the_reason_table_is_every_reason_a_dead_letter_can_carry():
    rows = table_after(DOCS / "contract.md", "reason")
    assert {unquote(reason): (stage, when) for reason, stage, when in rows} == REASONS
    assert len(rows) == len(REASONS)


def test_the_retry_defaults_table_is_the_code():
    rows = {unquote(name): value for name, value in table_after(DOCS / "dead-letters.md", "setting")}
    defaults = {
        f.name: str(getattr(settings(), f.name)) for settings in (RetryPolicy, BatchLimits) for f in fields(settings)
    }
    assert rows == defaults


def _codes(cell: str) -> set[str]:
    return {word for word in re.findall(r"[A-Z_]{4,}", cell) if word not in {"OK"}}


def test_the_retry_policy_table_and_the_readme_say_what_the_writer_does():
    """One policy, said twice: the table in docs/dead-letters.md and the README's sentence name
    exactly the writer's per-entry code sets (``DATA_ERROR_CODES``, ``TRANSIENT_CODES``)."""
    from google.rpc import code_pb2

    from transactions_pipeline.bigtable_writer import DATA_ERROR_CODES, RETRYABLE_CALL_ERRORS, TRANSIENT_CODES

    data, transient = ({code_pb2.Code.Name(c) for c in codes} for codes in (DATA_ERROR_CODES, TRANSIENT_CODES))
    rows = {row[0]: row for row in table_after(DOCS / "dead-letters.md", "answer")}
    assert _codes(rows["per entry, data error"][1]) == data
    assert _codes(rows["per entry, transient"][1]) == transient
    assert {"INTERNAL", "UNKNOWN"} <= _codes(rows["per entry, ambiguous"][1])
    assert _codes(rows["the whole call, transient"][1]) == {e.grpc_status_code.name for e in RETRYABLE_CALL_ERRORS}
    readme = " ".join((ROOT / "README.md").read_text().split())

    def listed_after(words: str) -> set[str]:
        return set(readme.split(f"{words} (", 1)[1].split(")", 1)[0].split(", "))

    assert listed_after("a data error") == data
    assert listed_after("for the whole call or for one entry") == transient
    assert f"dead-lettered after {RetryPolicy().max_entry_attempts} tries" in readme
    assert f"for up to {RetryPolicy().operation_timeout_seconds / 60:g} minutes per batch" in readme


def test_the_step_table_names_the_stable_step_names():
    rows = table_after(DOCS / "architecture.md", "step")
    steps = [
        pipeline.STEP_READ,
        pipeline.STEP_PARSE,
        pipeline.STEP_WRITE,
        pipeline.STEP_COLLECT_DEAD_LETTERS,
        pipeline.STEP_PUBLISH_DEAD_LETTERS,
    ]
    assert [unquote(row[0]) for row in rows] == steps


MARKDOWN = sorted([ROOT / "README.md", *DOCS.glob("*.md")])


@pytest.mark.parametrize("document", MARKDOWN, ids=lambda p: p.name)
def test_every_relative_link_resolves(document):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", document.read_text()):
        if not re.match(r"[a-z]+://", target):
            assert (document.parent / target).exists(), f"{document.name} links to {target}, which does not exist"


def test_nothing_points_outside_the_repository_for_its_design():
    sources = [*ROOT.glob("*.md"), *DOCS.glob("*.md")]
    for package in ("transactions", "template", "producer", "transactions_tools", "benchmarks"):
        sources += (ROOT / package).rglob("*.py")
    for path in sources:
        text = path.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, f"{path} points at a design outside the repository"


PATH_LIKE = re.compile(r"`((?:[a-z_]+/)+[a-z_.*-]*(?:\.py|\.md|\.toml|\.json|\.yaml|\.txt|\.lock|\.csv|\.svg)?)`")


@pytest.mark.parametrize("document", MARKDOWN, ids=lambda p: p.name)
def test_every_repository_path_a_document_names_exists(document):
    """A module, test or folder named in backticks (``transactions_wire/bigtable.py``,
    ``tests/unit/deploy/``) is where the document says."""
    top_level = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    missing = []
    for path in PATH_LIKE.findall(document.read_text()):
        if path.split("/")[0] not in top_level or "*" in path:
            continue  # a path of something else (a role, Beam's source tree) or a pattern
        if not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{document.name} names paths that do not exist: {missing}"


def test_every_make_target_the_documents_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for document in MARKDOWN:
        text = document.read_text()
        commands = re.findall(r"`make ([a-z][a-z-]*)", text) + re.findall(r"^make ([a-z][a-z-]*)", text, re.M)
        for target in commands:
            assert target in targets, f"{document.name} says `make {target}`, which the Makefile does not have"


def test_the_readme_is_a_front_door():
    """What it is, the two commands, make up, a deploy quick start, and links: the rest is in docs/."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert readme.index("make demo") < readme.index("make test") < readme.index("## What it is")
