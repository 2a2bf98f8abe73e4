"""Shared fixtures of the ptq package's tests: the project's committed model
fixtures and the `ptq` command line (`$PTQ_BIN`, which `cargo xtask test`
sets) to compare the package with."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> pathlib.Path:
    return FIXTURES


@pytest.fixture(scope="session")
def ptq_cli():
    """Runs the `ptq` command line with the given arguments."""
    exe = os.environ.get("PTQ_BIN", str(ROOT / "target" / "release" / "ptq"))
    if not os.path.exists(exe):
        pytest.fail(f"no ptq binary at {exe}: run `cargo xtask test`, or set PTQ_BIN")

    def run(*args: str) -> str:
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 0, f"ptq {' '.join(map(str, args))}: {p.stdout}{p.stderr}"
        return p.stdout

    return run


def npz(path: pathlib.Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
