"""Dependencies point one way: contract v1 and the wire encoders at the bottom, the pipeline and
the producer on them, the tools on top. Checked twice: each package is imported whole (every
module of it) in a fresh interpreter and what that loaded is checked (an import a module makes
at import time, however indirect); and every import statement in the package's source is read,
at any depth, so an import inside a function body, which importing never runs, counts too."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NEVER = {  # package -> the top-level packages it must never load nor import
    "transactions": {
        "apache_beam",
        "google",
        "grpc",
        "producer",
        "transactions_pipeline",
        "transactions_tools",
        "transactions_wire",
    },
    "transactions_wire": {
        "apache_beam",
        "google",
        "grpc",
        "producer",
        "transactions",
        "transactions_pipeline",
        "transactions_tools",
    },
    "producer": {"apache_beam", "transactions_pipeline", "transactions_tools"},
    "transactions_pipeline": {"producer", "transactions_tools"},
}

IMPORTED_WHEN_CALLED = {  # (package, top-level package) -> why its source may import it in a function body
    ("transactions_wire", "google"): (
        "its senders wrap the generated clients' own channels, so making one imports the client's "
        "transport; importing the package (the encoders) loads no Google library, which the first "
        "test checks"
    ),
    ("transactions_wire", "grpc"): (
        "clients.pubsub_subscriber opens the emulator's plain gRPC channel itself (with a larger "
        "receive limit), when it is called; importing the package loads no gRPC, which the first test checks"
    ),
}

WALK = """
import importlib, json, pkgutil, sys
at_start = set(sys.modules)  # site's .pth files may preload namespace packages such as google
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not module.name.endswith(".__main__"):  # importing it would run the command
        importlib.import_module(module.name)
print(json.dumps(sorted(set(sys.modules) - at_start)))
"""


def loaded_by_importing_all_of(package: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", WALK, package], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    return {name.split(".")[0] for name in json.loads(done.stdout)}


@pytest.mark.parametrize(("package", "never"), NEVER.items())
def test_a_package_never_loads_what_sits_beside_or_above_it(package, never):
    loaded = loaded_by_importing_all_of(package)
    assert package in loaded
    assert not loaded & never, f"importing all of {package} loaded {sorted(loaded & never)}"


def test_the_pipeline_and_the_producer_both_stand_on_contract_v1_and_the_wire_encoders():
    for package in ("transactions_pipeline", "producer"):
        assert {"transactions", "transactions_wire"} <= loaded_by_importing_all_of(package)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``, which only a type checker reads."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in {
            getattr(node.test, "id", ""),
            getattr(node.test, "attr", ""),
        }:
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def imported_by(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement, or a literal ``importlib.import_module``/``__import__``
    call, names (a relative import names ``package`` itself); nothing for any other node."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""] if node.level == 0 else [package]
    if (
        isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in {"import_module", "__import__"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def imports_in_source(package: str) -> dict[str, set[str]]:
    """Top-level package -> the files of ``package`` that import it anywhere it can run: at the
    top, in a function body, in a class, by a literal ``import_module`` call (not under
    ``if TYPE_CHECKING:``, which never runs)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            for name in imported_by(node, package):
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_source_reader_sees_an_import_at_any_depth_but_not_for_the_type_checker_only():
    source = """
import os
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from google.cloud import bigtable
else:
    import json
def f():
    class C:
        def g(self):
            from google.api_core import exceptions
            import importlib
            importlib.import_module("apache_beam.io")
    return __import__("grpc")
"""
    names = {name.split(".")[0] for node in _runtime_nodes(ast.parse(source)) for name in imported_by(node, "p")}
    assert names == {"os", "typing", "json", "google", "importlib", "apache_beam", "grpc"}
    typed_only = {name for node in ast.walk(ast.parse(source)) for name in imported_by(node, "p")}
    assert "google.cloud" in typed_only and "google.cloud" not in {
        name for node in _runtime_nodes(ast.parse(source)) for name in imported_by(node, "p")
    }


@pytest.mark.parametrize(("package", "never"), NEVER.items())
def test_no_import_statement_anywhere_reaches_what_a_package_must_not_load(package, never):
    imported = imports_in_source(package)
    breaking = {
        f"{top} (in {', '.join(sorted(imported[top]))})"
        for top in never & imported.keys()
        if (package, top) not in IMPORTED_WHEN_CALLED
    }
    assert not breaking, f"{package} imports, at some depth: {sorted(breaking)}"


def test_every_allowed_import_in_a_function_body_is_still_there_and_says_why():
    for (package, top), why in IMPORTED_WHEN_CALLED.items():
        assert top in NEVER[package], f"{package} may load {top} anyway: no exception needed"
        assert top in imports_in_source(package), f"{package} no longer imports {top}: drop the exception"
        assert len(why) > 40
