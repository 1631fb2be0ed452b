"""The lab tier: needs lab/up.sh to have run (lab/state/lab.json); otherwise
every test marked integration is skipped with the reason printed."""

import json
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "lab"
LAB_JSON = LAB_DIR / "state" / "lab.json"


def run(*cmd, timeout=120, check=True):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode:d}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def lab():
    if not LAB_JSON.exists():
        reason = f"the lab is not up ({LAB_JSON} absent): run `make lab` as root"
        print("SKIP: " + reason)
        pytest.skip(reason)
    return json.loads(LAB_JSON.read_text())
