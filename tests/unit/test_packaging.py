"""The images, the lock files and Cloud Build: pinned, consistent, and carrying only what they run.

None of this can run here (no Docker engine, no project), so these tests pin it by construction:
hadolint on both Dockerfiles, one version of each base everywhere, what each image copies and
imports. The images' install steps are reproduced in clean virtual environments by
tests/integration/test_launch_contract.py and test_producer_image.py.
"""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.images import copied_sources

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PRODUCER_DOCKERFILE = (ROOT / "producer" / "Dockerfile").read_text()
CLOUDBUILD_TEXT = (ROOT / "cloudbuild.yaml").read_text()
CLOUDBUILD = yaml.safe_load(CLOUDBUILD_TEXT)
STEPS = {step["id"]: step for step in CLOUDBUILD["steps"]}


def dockerfile_arg(text: str, name: str) -> str:
    arg = re.search(rf"^ARG {name}=(\S+)$", text, re.M)
    assert arg, f"no ARG {name}"
    return arg.group(1)


def beam_pin() -> str:
    [pin] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("apache-beam")]
    version = re.fullmatch(r"apache-beam\[gcp\]==([\d.]+)", pin)
    assert version, pin
    return version.group(1)


def locked_version(lock: Path, package: str) -> str:
    locked = re.search(rf"^{package}==(\S+) ", lock.read_text(), re.M)
    assert locked, f"{package} is not in {lock}"
    return locked.group(1)


def test_beam_version_is_one_and_the_same_everywhere():
    version = beam_pin()
    assert dockerfile_arg(DOCKERFILE, "BEAM_VERSION") == version
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in DOCKERFILE
    assert locked_version(ROOT / "requirements.lock", "apache-beam") == version
    assert CLOUDBUILD["substitutions"]["_BEAM_VERSION"] == version


def test_every_base_image_is_pinned_and_the_same_in_each_place():
    launcher = dockerfile_arg(DOCKERFILE, "LAUNCHER_TAG")
    assert re.fullmatch(r"\d{8}[-_](rc|RC)\d{2}(@sha256:[0-9a-f]{64})?", launcher), (
        "a dated tag (and digest), never latest"
    )
    assert CLOUDBUILD["substitutions"]["_LAUNCHER_TAG"] == launcher
    python_image = dockerfile_arg(DOCKERFILE, "PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)", python_image)
    assert dockerfile_arg(PRODUCER_DOCKERFILE, "PYTHON_IMAGE") == python_image
    assert CLOUDBUILD["substitutions"]["_PYTHON_IMAGE"] == python_image
    assert "FROM ${PYTHON_IMAGE}" in DOCKERFILE and "FROM ${PYTHON_IMAGE}" in PRODUCER_DOCKERFILE
    assert "latest" not in CLOUDBUILD["substitutions"]["_CLOUD_SDK_IMAGE"]


def test_the_build_runs_the_same_gcloud_as_the_tests_that_check_its_output():
    sdk = re.fullmatch(
        r"gcr\.io/google\.com/cloudsdktool/cloud-sdk:(\d+\.\d+\.\d+)-slim",
        CLOUDBUILD["substitutions"]["_CLOUD_SDK_IMAGE"],
    )
    assert sdk, "a pinned cloud-sdk release"
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("the Google Cloud CLI is not installed here")
    installed = subprocess.run([gcloud, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    assert installed == f"Google Cloud SDK {sdk.group(1)}", f"cloudbuild.yaml pins {sdk.group(1)}; here: {installed}"


def test_the_build_backend_is_pinned_and_locked_with_its_hashes():
    [backend] = PYPROJECT["build-system"]["requires"]
    name, version = backend.split("==")
    assert locked_version(ROOT / "requirements.lock", name) == version
    assert "--no-build-isolation" in DOCKERFILE and "--no-deps" in DOCKERFILE


def test_dockerfile_launch_settings():
    assert 'ENV FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/template/main.py"' in DOCKERFILE
    for variable in ("FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE", "FLEX_TEMPLATE_PYTHON_SETUP_FILE", "PIP_NO_DEPS"):
        assert not re.search(rf"^ENV {variable}\b", DOCKERFILE, re.M), f"{variable} is set"
    assert "ENV RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1" in DOCKERFILE
    assert "ENV TRANSACOES_TEMPLATE_IMAGE=${TEMPLATE_IMAGE}" in DOCKERFILE
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in DOCKERFILE
    assert "--require-hashes -r requirements.lock" in DOCKERFILE and "pip check" in DOCKERFILE


def test_every_locked_requirement_is_hashed():
    for lock in (ROOT / "requirements.lock", ROOT / "producer" / "requirements.lock"):
        blocks = [b for b in re.split(r"\n(?=[a-z0-9])", lock.read_text()) if "==" in b and not b.startswith("#")]
        assert blocks
        for block in blocks:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_producer_lock_has_no_beam_and_matches_pyproject_ranges():
    lock = (ROOT / "producer" / "requirements.lock").read_text()
    assert "apache-beam" not in lock
    ranges = {
        line.split(">=")[0]: line
        for line in (ROOT / "producer" / "requirements.in").read_text().splitlines()
        if line and not line.startswith("#")
    }
    deps = {d.split(">=")[0]: d for d in PYPROJECT["project"]["dependencies"]}
    for name, spec in ranges.items():
        assert deps[name] == spec


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "producer/Dockerfile"])
def test_hadolint_passes(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_producer_image_runs_as_non_root():
    assert "USER 10001" in PRODUCER_DOCKERFILE and "useradd" in PRODUCER_DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "producer"]' in PRODUCER_DOCKERFILE
    assert "apache-beam" not in PRODUCER_DOCKERFILE


def test_cloudbuild_substitutions_are_all_defined_and_steps_in_order():
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", CLOUDBUILD_TEXT))
    assert used <= set(CLOUDBUILD["substitutions"]), used - set(CLOUDBUILD["substitutions"])
    assert CLOUDBUILD["options"] == {"logging": "CLOUD_LOGGING_ONLY", "dynamic_substitutions": True}
    ids = list(STEPS)
    assert (
        ids.index("unit-tests")
        < ids.index("build-template-image")
        < ids.index("push-template-image")
        < ids.index("build-specs")
    )


def test_the_template_image_knows_its_own_name_and_both_specs_are_built_from_it():
    build = STEPS["build-template-image"]["args"]
    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/${_IMAGE}:${_VERSION}"
    assert f"--build-arg=TEMPLATE_IMAGE={image}" in build and f"--tag={image}" in build
    script = STEPS["build-specs"]["args"][-1]
    assert f"IMAGE={image}" in script
    assert "transacoes-stream:metadata.json" in script and "transacoes-backfill:metadata-backfill.json" in script
    assert "--print-only" in script and "--sdk-language=PYTHON" in script and "deploy/merge_spec.py" in script
    assert STEPS["build-specs"]["name"] == "${_CLOUD_SDK_IMAGE}"


def dockerignore_allows(path: str) -> bool:
    lines = [x for x in (ROOT / ".dockerignore").read_text().splitlines() if x and not x.startswith("#")]
    assert lines[0] == "*", "deny by default"
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    parts = path.rstrip("/").split("/")
    return any("/".join(parts[: n + 1]) in allowed for n in range(len(parts)))


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "producer/Dockerfile"])
def test_dockerignore_lets_in_everything_the_images_copy(dockerfile):
    sources = copied_sources(ROOT / dockerfile)
    assert sources
    for source in sources:
        assert dockerignore_allows(source), f"{dockerfile} copies {source}, which .dockerignore leaves out"


FIRST_PARTY = {
    "transactions",
    "transactions_wire",
    "transactions_pipeline",
    "transactions_tools",
    "producer",
    "benchmarks",
    "tests",
}


def first_party_imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                names = []
            found |= {name.split(".")[0] for name in names} & FIRST_PARTY
    return found


def test_each_image_carries_every_first_party_package_its_code_imports_and_nothing_else():
    assert first_party_imports("transactions") == {"transactions"}
    assert first_party_imports("transactions_wire") == {"transactions_wire"}
    assert first_party_imports("transactions_pipeline") == {
        "transactions",
        "transactions_wire",
        "transactions_pipeline",
    }
    assert first_party_imports("template") == {"transactions_pipeline"}
    assert {s.rstrip("/") for s in copied_sources(ROOT / "Dockerfile")} == {
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "transactions",
        "transactions_wire",
        "transactions_pipeline",
        "template/main.py",
    }
    assert first_party_imports("producer") == {"producer", "transactions", "transactions_wire"}, "no Beam, no pipeline"
    assert {s.rstrip("/") for s in copied_sources(ROOT / "producer" / "Dockerfile")} == {
        "producer/requirements.lock",
        "transactions",
        "transactions_wire",
        "producer",
        "data/sample_transactions.csv",
    }


IMAGE_PACKAGES = ("transactions", "transactions_wire", "transactions_pipeline", "producer")
"""What the two images carry: nothing in them may exist only for the tests."""


def module_level_names(package: str) -> dict[str, Path]:
    names = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names[node.name] = path
            elif isinstance(node, ast.Assign):
                names.update((target.id, path) for target in node.targets if isinstance(target, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names[node.target.id] = path
    return names


def names_used_in(paths) -> set[str]:
    used = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom):
                used.update(alias.name for alias in node.names)
    return used


def test_nothing_in_an_images_packages_is_there_only_for_the_tests():
    """Every public module-level name of an image's packages is used by code that is not a test
    (the packages themselves, the entry file, the tools, the benchmarks, deploy/): a stand-in or
    a helper only the tests call lives in tests/."""
    code = [
        path
        for folder in (*IMAGE_PACKAGES, "transactions_tools", "benchmarks", "template", "deploy", "data")
        for path in (ROOT / folder).rglob("*.py")
        if "venv" not in path.relative_to(ROOT).parts
    ]
    used = names_used_in([*code, ROOT / "deploy" / "smoke"])
    only_tests = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for package in IMAGE_PACKAGES
        for name, path in module_level_names(package).items()
        if not name.startswith("_") and name not in used
    )
    assert only_tests == [], "used by the tests alone, or by nothing: move to tests/ or delete"


def test_the_unit_tests_mirror_the_packages():
    """``tests/unit/<package>/test_<module>.py`` tests ``<package>/<module>.py`` (a subpackage's
    modules too: ``tests/unit/transactions_tools/local/test_stack.py``): one rule to find a
    module's tests (``tests/unit/deploy/`` holds the deployment's contract tests)."""
    for folder in (ROOT / "tests" / "unit").iterdir():
        if not folder.is_dir() or folder.name in {"deploy", "__pycache__"}:
            continue
        assert (ROOT / folder.name).is_dir(), f"tests/unit/{folder.name}/ mirrors no folder of the repository"
        for test in folder.rglob("test_*.py"):
            mirrored = test.relative_to(ROOT / "tests" / "unit")
            module = ROOT / mirrored.parent / mirrored.name.removeprefix("test_")
            assert module.exists(), f"{test.relative_to(ROOT)} has no module {module.relative_to(ROOT)}"
    for package in (*IMAGE_PACKAGES, "transactions_tools"):
        assert (ROOT / "tests" / "unit" / package).is_dir(), f"no tests/unit/{package}/"


FOLDERS_WITHOUT_MIRRORED_TESTS = {  # a folder of Python at the root -> why its modules have no test files of their own
    "benchmarks": (
        "measurements, not behaviour: make bench runs every module, and "
        "tests/integration/test_benchmarks_smoke.py runs them all end to end on the emulators"
    ),
    "deploy": "tests/unit/deploy/ holds the deployment's contract tests, by concern rather than by module",
    "data": "the script that made the sample CSV, run once; the CSV itself is read by every test of the producer",
}
MODULES_WITHOUT_UNIT_TESTS = {  # module -> why it has no tests/unit/<package>/test_<module>.py (yet)
    "transactions_tools/dead_letter_lease.py": (
        "split out of triage.py in 'Structure, step two'; its lease runs on the emulator in "
        "tests/integration/test_deadletters_emulator.py and test_hostile_dead_letters.py, and its "
        "unit test file comes with the split"
    ),
    "transactions_tools/local/observer.py": (
        "reshaped in 'Structure, step two'; it polls the emulators (a keys-only scan, a dead-letter "
        "pull) in tests/integration/test_demo.py and test_chaos_emulator.py, and its unit test file "
        "comes with that change"
    ),
}


def modules_of_the_project() -> set[str]:
    """Every module of every folder of Python at the root, ``template/`` included (``__init__`` and
    ``__main__`` are no module to test on their own), but the folders left out with a reason."""
    folders = {
        path.parent.relative_to(ROOT).parts[0]
        for path in ROOT.glob("*/**/*.py")
        if not path.relative_to(ROOT).parts[0].startswith((".", "tests")) and "venv" not in str(path)
    }
    assert set(FOLDERS_WITHOUT_MIRRORED_TESTS) <= folders, "a folder left out that is not there any more"
    return {
        str(path.relative_to(ROOT))
        for folder in sorted(folders - set(FOLDERS_WITHOUT_MIRRORED_TESTS))
        for path in (ROOT / folder).rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"} and "venv" not in str(path)
    }


def test_every_module_has_its_unit_test_file_or_a_reason_why_not():
    """The layout rule, checked both ways: every module of the project has
    ``tests/unit/<package>/test_<module>.py``, or an entry in ``MODULES_WITHOUT_UNIT_TESTS`` saying why
    not; an entry for a module that has its tests now, or that is gone, is an error too."""
    without = {
        module
        for module in modules_of_the_project()
        if not (ROOT / "tests" / "unit" / Path(module).parent / f"test_{Path(module).name}").exists()
    }
    assert sorted(without - MODULES_WITHOUT_UNIT_TESTS.keys()) == [], (
        "modules without tests/unit/<package>/test_<module>.py"
    )
    assert sorted(MODULES_WITHOUT_UNIT_TESTS.keys() - without) == [], "listed as untested, but tested now (or gone)"
    for module, why in MODULES_WITHOUT_UNIT_TESTS.items():
        assert len(why) > 40, f"{module}: say why it has no unit tests"
