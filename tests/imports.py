"""What a Python process imported, and from where, read from ``python -v``'s report."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

_IMPORTED = re.compile(r"^import '([^']+)'", re.M)
_LOADED_FROM = re.compile(r"^# code object from '?(.+?)'?$", re.M)


def verbose_imports(command: list[str], **kwargs) -> tuple[set[str], set[Path]]:
    """Run ``command`` (a Python interpreter first) with ``-v``: (module names, files loaded)."""
    done = subprocess.run([command[0], "-v", *command[1:]], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    files = {Path(p) for p in _LOADED_FROM.findall(done.stderr)}
    return set(_IMPORTED.findall(done.stderr)), files


def package_module_names(package_dir: Path) -> set[str]:
    """The short names of a package's modules (``options`` for ``transactions_pipeline/options.py``)."""
    return {path.stem for path in package_dir.glob("*.py") if path.stem != "__init__"}
