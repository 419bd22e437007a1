"""Create and use the project's virtual environment (standard library only).

run.py and run_tests.py call ensure_virtualenv() before importing anything else, so one
command works on a fresh machine: the first call creates .venv, installs the pinned
requirements, and re-executes the same command inside it. Later calls reinstall only when a
requirements file changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SHOP_VENV", ROOT / ".venv"))


def _requirements(dev: bool) -> list[Path]:
    files = [ROOT / "requirements.txt"]
    if dev:
        files.append(ROOT / "requirements-dev.txt")
    return files


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _venv_python() -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / "python"


def ensure_virtualenv(*, dev: bool) -> None:
    """Make sure the requirements are installed in .venv and that we run inside it."""
    if sys.version_info < (3, 11):  # noqa: UP036  (runs before the venv exists)
        sys.exit("Python 3.11 or newer is needed.")
    files = _requirements(dev)
    stamp = VENV / (".installed-dev" if dev else ".installed")
    wanted = _fingerprint(files)
    python = _venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        print("Installing dependencies (first run or requirements changed) ...", flush=True)
        command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        for path in files:
            command += ["-r", str(path)]
        subprocess.run(command, check=True)
        stamp.write_text(wanted)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(python), [str(python), *sys.argv])
