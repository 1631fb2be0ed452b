"""When the lab is down, nothing of it may be left on the machine."""

import pytest

from .conftest import LAB_DIR, LAB_JSON, run


@pytest.mark.integration
def test_a_downed_lab_leaves_no_process_namespace_link_domain_or_file():
    if LAB_JSON.exists():
        pytest.skip("the lab is up; this checks the machine after `make lab-down`")
    left = run(LAB_DIR / "leftovers.sh", timeout=120, check=False)
    assert left.returncode == 0, left.stdout
