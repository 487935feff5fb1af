"""The design documents in docs/ say what the code does: their tables are checked against it."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
from google.api_core.exceptions import GoogleAPICallError

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


def _grpc_code_name(error: type[GoogleAPICallError]) -> str:
    assert error.grpc_status_code is not None, f"{error.__name__} has no gRPC code"
    return error.grpc_status_code.name


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
    assert _codes(rows["the whole call, transient"][1]) == {_grpc_code_name(e) for e in RETRYABLE_CALL_ERRORS}
    readme = " ".join((ROOT / "README.md").read_text().split())

    def listed_after(words: str) -> set[str]:
        return set(readme.split(f"{words} (", 1)[1].split(")", 1)[0].split(", "))

    assert listed_after("a data error") == data
    assert listed_after("for the whole call or for one entry") == transient
    assert f"dead-lettered after {RetryPolicy().max_entry_attempts} tries" in readme
    assert f"for up to {RetryPolicy().operation_timeout_seconds / 60:g} minutes per batch" in readme


CALL_MARKERS = {
    "MutateRows": ("BigtableBatchWriter(",),
    "ReadRows": ("BigtableReader(", "read_rows"),
    "Publish": (".publish(",),
}
"""How a module of the job shows that it makes each call."""


def test_every_call_the_job_makes_has_its_retry_rule_and_a_fault_test():
    """docs/dead-letters.md, "Every call the job makes": each module of the job that writes to or
    reads from Bigtable, or publishes to Pub/Sub, is in the table under that call; each row's
    retry rule is stated; and the test it names exists and injects faults (the fault proxy)."""
    rows = table_after(DOCS / "dead-letters.md", "call")
    listed: set[tuple[str, str]] = set()
    for call_cell, made_by, rule, tested_by in rows:
        call = unquote(call_cell.split()[0])
        modules = re.findall(r"`(transactions_pipeline/\w+\.py)`", made_by)
        if call in CALL_MARKERS:
            assert modules and rule and "retried" in rule, call_cell
            listed.update((call, module) for module in modules[:1])
            for test in re.findall(r"`(tests/[\w/]+\.py)`", tested_by):
                assert "proxy.inject(" in (ROOT / test).read_text(), f"{test} injects no fault"
    found = {
        (call, f"transactions_pipeline/{path.name}")
        for path in (ROOT / "transactions_pipeline").glob("*.py")
        for call, markers in CALL_MARKERS.items()
        if path.name not in {"bigtable_reader.py", "bigtable_writer.py", "bigtable_connection.py", "preflight.py"}
        and any(marker in path.read_text() for marker in markers)
    }
    assert found == listed


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


RESULTS = ROOT / "benchmarks" / "RESULTS.md"
README_TO_RESULTS = {  # the README's performance table's workload -> RESULTS.md's
    "transform (per core)": "transform (per core)",
    "sink (whole pipeline)": "sink: whole pipeline",
    "backfill (batch job)": "backfill (batch job)",
    "publish": "publish: producer",
}


def last_benchmark_run() -> tuple[str, str, str]:
    """(rows, date, commit) of the run ``benchmarks/RESULTS.md`` holds, from its header."""
    text = RESULTS.read_text()
    when = re.search(r"^- date: (\d{4}-\d{2}-\d{2}) \d{2}:\d{2} \S+, commit ([0-9a-f]{7,40})\b", text, re.M)
    rows = re.search(r"^- sizes: ([\d,]+) rows \(sink, backfill, transform\)", text, re.M)
    assert when and rows, "benchmarks/RESULTS.md no longer says when, at which commit and at what size it was measured"
    return rows.group(1), when.group(1), when.group(2)


def test_the_readmes_performance_figures_are_the_last_benchmark_runs():
    """The README's table is copied from ``benchmarks/RESULTS.md``: the same ratios, and the
    same run (its size, date and commit), so a new ``make bench`` shows up as a difference here."""
    results = {row[0]: row for row in table_after(RESULTS, "workload")}
    readme_rows = table_after(ROOT / "README.md", "workload")
    assert [row[0] for row in readme_rows] == list(README_TO_RESULTS)
    for row in readme_rows:
        measured = results[README_TO_RESULTS[row[0]]]
        speed, cpu_ratio = measured[7], measured[8]
        assert row[3:] == [speed, f"{cpu_ratio} less"], f"README's {row[0]!r}: RESULTS.md says {speed}, {cpu_ratio}"
    readme = " ".join((ROOT / "README.md").read_text().split())
    rows, date, commit = last_benchmark_run()
    assert f"At {rows} rows, {date}, commit {commit}:" in readme
    rollups = re.search(r"rollups, per row \(marginal\):.*?, ([\d.]+)× the CPU per row\)", RESULTS.read_text())
    assert rollups, "RESULTS.md's goal line of the rollups' cost per row is gone"
    assert f"Live rollups cost {rollups.group(1)}× the CPU per row ({date}; the sink's workload" in readme
    realistic = re.search(
        r"^\| one user-day per row \| [\d,]+ \| [\d,]+ \| [\d.]+× \| ([\d.]+)× \|", RESULTS.read_text(), re.M
    )
    assert realistic, "RESULTS.md's rollups at one user-day per row are gone"
    assert f"and {realistic.group(1)}× a backfill's CPU when every line is its own user-day" in readme


def test_the_performance_docs_last_run_is_the_last_benchmark_run():
    """``docs/performance.md`` copies the last run's table: the same commit, and per workload the
    same rows/s and CPU per row (an en dash where a figure is not a rate)."""
    results = {row[0]: row for row in table_after(RESULTS, "workload")}
    _, _, commit = last_benchmark_run()
    text = (DOCS / "performance.md").read_text()
    assert f"2 cores, {last_benchmark_run()[1]}, commit {commit}; `benchmarks/RESULTS.md`" in text
    copied = table_after(DOCS / "performance.md", "workload | rows/s baseline")
    assert copied, "docs/performance.md's table of the last run is gone"
    for row in copied:
        measured = results[row[0]]
        for ours, theirs in zip(row[1:5], measured[3:7], strict=True):
            assert ours in (theirs, "—"), f"docs/performance.md's {row[0]!r}: {row[1:5]}, RESULTS.md: {measured[3:7]}"
        floor = row[7] if len(row) > 8 else ""  # an empty cell written `| |` is not split by table_after
        assert floor == measured[9], (
            f"docs/performance.md's {row[0]!r}: {floor!r} of the floor, RESULTS.md: {measured[9]!r}"
        )
    cardinalities = {row[0]: row[2:] for row in table_after(RESULTS, "workload | rows | windows")}
    copied = table_after(DOCS / "performance.md", "workload | windows")
    assert [row[0] for row in copied] == list(cardinalities)
    for row in copied:
        assert row[1:] == cardinalities[row[0]], f"docs/performance.md's rollups at {row[0]!r}"


def test_the_architectures_sink_figures_are_the_last_benchmark_runs():
    results = {row[0]: row for row in table_after(RESULTS, "workload")}
    whole, write_stage = results["sink: whole pipeline"], results["sink: write stage only"]
    rows, date, _ = last_benchmark_run()
    text = " ".join((DOCS / "architecture.md").read_text().split())
    assert f"`make bench` on this machine, {rows} rows, {date}" in text
    assert f"the whole sink pipeline {whole[7]} the rows/s of Beam's with {whole[8]} less CPU per row" in text
    assert f"floor) {write_stage[8]} less CPU per row" in text


def test_the_rollups_doc_states_the_batch_and_shard_sizes_the_code_uses():
    from transactions_pipeline.rollup_sink import MAX_FIRINGS_PER_BATCH, MAX_SALES_PER_BATCH
    from transactions_pipeline.rollups import BACKFILL_SHARDS, MAX_BACKFILL_SALES_HELD

    text = " ".join((DOCS / "rollups.md").read_text().split())
    assert (
        f"per batch of up to {MAX_FIRINGS_PER_BATCH:,} firings (fewer once they hold {MAX_SALES_PER_BATCH:,} sales"
        in text
    )
    assert f"{BACKFILL_SHARDS} shards in all" in text
    assert f"whenever its windows hold {MAX_BACKFILL_SALES_HELD:,} sales" in text
