"""Dependencies point one way: contract v1 and the wire encoders at the bottom, the pipeline and
the producer on them, the tools on top. Each package is imported whole (every module of it) in a fresh interpreter,
and what that loaded is checked, so an import hidden in a function body counts too."""

import json
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize(
    ("package", "never"),
    [
        (
            "transactions",
            {
                "apache_beam",
                "google",
                "grpc",
                "producer",
                "transactions_pipeline",
                "transactions_tools",
                "transactions_wire",
            },
        ),
        (
            "transactions_wire",
            {
                "apache_beam",
                "google",
                "grpc",
                "producer",
                "transactions",
                "transactions_pipeline",
                "transactions_tools",
            },
        ),
        ("producer", {"apache_beam", "transactions_pipeline", "transactions_tools"}),
        ("transactions_pipeline", {"producer", "transactions_tools"}),
    ],
)
def test_a_package_never_loads_what_sits_beside_or_above_it(package, never):
    loaded = loaded_by_importing_all_of(package)
    assert package in loaded
    assert not loaded & never, f"importing all of {package} loaded {sorted(loaded & never)}"


def test_the_pipeline_and_the_producer_both_stand_on_contract_v1_and_the_wire_encoders():
    for package in ("transactions_pipeline", "producer"):
        assert {"transactions", "transactions_wire"} <= loaded_by_importing_all_of(package)
