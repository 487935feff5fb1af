"""``template/main.py``, run as the launcher runs it, makes no module of the package top-level.

The launcher runs ``python template/main.py``, which puts ``template/`` first on ``sys.path``.
If the package's modules sat next to the file, ``options``, ``pipeline``, ``metrics`` ... would
become importable (and imported) as top-level names beside the installed package. The image
is checked the same way in ``tests/integration/test_launch_contract.py``.
"""

import sys
from pathlib import Path

from tests.imports import package_module_names, verbose_imports

ROOT = Path(__file__).resolve().parents[3]
MAIN = ROOT / "template" / "main.py"
PACKAGE = ROOT / "transactions_pipeline"


def test_the_entry_file_imports_the_package_and_none_of_its_modules_as_top_level_names():
    names, files = verbose_imports([sys.executable, str(MAIN), "--help"], cwd=ROOT / "template")
    assert "transactions_pipeline.launch" in names
    modules = package_module_names(PACKAGE)
    assert {"options", "pipeline", "metrics", "launch"} <= modules
    assert not names & modules, f"package modules imported as top-level names: {names & modules}"
    assert not [f for f in files if f.parent == MAIN.parent], "nothing is loaded from the entry file's own folder"


def test_the_entry_folder_holds_the_entry_file_only():
    assert sorted(p.name for p in MAIN.parent.iterdir() if p.name != "__pycache__") == ["main.py"]
    assert not (MAIN.parent / "__init__.py").exists()


def test_help_lists_the_template_parameters():
    import subprocess

    done = subprocess.run([sys.executable, str(MAIN), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for parameter in ("--input_subscription", "--input_file", "--bigtable_table", "--dead_letter_topic"):
        assert parameter in done.stdout
