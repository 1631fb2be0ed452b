"""Host onboarding against a real (private) Open_vSwitch ovsdb-server."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from network.ovn import chassis

VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
START_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def ovs_db(tmp_path_factory):
    if not (VSWITCH_SCHEMA.exists() and shutil.which("ovsdb-server") and shutil.which("ovs-vsctl")):
        print("chassis tests skipped: openvswitch-switch is not installed")
        pytest.skip("openvswitch-switch is not installed")
    directory = tmp_path_factory.mktemp("ovs")
    db, sock = directory / "conf.db", directory / "db.sock"
    subprocess.run(["ovsdb-tool", "create", str(db), str(VSWITCH_SCHEMA)], check=True)
    process = subprocess.Popen(
        ["ovsdb-server", str(db), f"--remote=punix:{sock}", f"--unixctl={directory}/ctl", f"--pidfile={directory}/pid"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--timeout=5", "--no-wait", "init"], check=True)
        subprocess.run(
            ["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "set", "open_vswitch", ".", "external_ids:hostname=hv1"],
            check=True,
        )
        yield f"unix:{sock}"
    finally:
        process.terminate()
        process.wait(5)


WANT = chassis.ChassisConfig("hv1", "tcp:10.99.0.1:6642", "10.99.0.2", bridge_mappings={"physnet1": "br-ex"})


def test_a_fresh_host_is_told_what_is_missing(ovs_db):
    check = chassis.chassis_check(ovs_db)
    assert not check.ok and set(check.missing) == set(chassis.REQUIRED)
    assert "missing system-id" in check.describe()


def test_configuring_sets_the_ids_and_keeps_other_keys(ovs_db):
    check = chassis.chassis_configure(ovs_db, WANT)
    assert check.ok, check.describe()
    assert check.current["ovn-bridge-mappings"] == "physnet1:br-ex"
    out = subprocess.run(
        ["ovs-vsctl", f"--db={ovs_db}", "get", "open_vswitch", ".", "external_ids:hostname"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == '"hv1"' or out == "hv1"


def test_a_different_encap_is_reported(ovs_db):
    chassis.chassis_configure(ovs_db, WANT)
    other = chassis.ChassisConfig("hv1", "tcp:10.99.0.1:6642", "10.99.0.2", encap_type="vxlan")
    check = chassis.chassis_check(ovs_db, other)
    assert check.different == {"ovn-encap-type": ("geneve", "vxlan")}


def test_bad_settings_are_refused_before_touching_the_host():
    with pytest.raises(chassis.ChassisConfigError):
        chassis.ChassisConfig("hv1", "http://x", "10.0.0.1").external_ids()
    with pytest.raises(chassis.ChassisConfigError):
        chassis.ChassisConfig("hv1", "tcp:1.2.3.4:6642", "not-an-ip").external_ids()
