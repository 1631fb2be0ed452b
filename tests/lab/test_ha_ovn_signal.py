"""Integration: HA's OVN signal against the lab's real ovn-northd and ovn-controllers. Both lab
hosts' chassis are "alive"; with host B's ovn-controller stopped (SIGSTOP by its PID: a hung
controller, its Chassis rows left as a dead host leaves them) host B is "dead" and host A still
"alive"; after SIGCONT host B catches up again."""

import os
import signal
import time
from pathlib import Path

import pytest

from compute.models import Host
from network.ovn import liveness
from network.services.liveness import host_chassis_liveness

from .conftest import LAB_DIR

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
WAIT_S = 5.0  # the default HA probe timeout
ROUNDS = 5


@pytest.fixture
def lab_ovn(lab, monkeypatch):
    monkeypatch.setenv("NUBES_OVN_NB", lab["ovn"]["nb"])
    monkeypatch.setenv("NUBES_OVN_SB", lab["ovn"]["sb"])
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    return {host["name"]: Host(name=host["name"], uri=host["uri"]) for host in lab["hosts"]}


def controller_pid(name):
    """The PID lab/up.sh recorded for `name` (lab/state/started), checked to be ovn-controller."""
    for line in (LAB_DIR / "state" / "started").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            pid = int(Path(fields[3]).read_text().strip())
            assert Path(f"/proc/{pid}/comm").read_text().strip() == "ovn-controller", pid
            return pid
    raise AssertionError(f"{name} is not in lab/state/started: is the lab up?")


def asked(host):
    seen = host_chassis_liveness(host, WAIT_S)
    print(f"  {host.name}: {seen.verdict} in {seen.seconds * 1000:.0f} ms ({seen.detail})")
    return seen


def test_both_lab_chassis_are_alive(lab_ovn):
    times = []
    for _ in range(ROUNDS):
        for host in lab_ovn.values():
            seen = asked(host)
            assert (seen.verdict, seen.chassis) == (liveness.ALIVE, host.name), seen
            times.append(seen.seconds)
    times.sort()
    print(
        f"\n'alive' over {len(times)} asks: median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )


def test_a_stopped_ovn_controller_is_dead_and_the_other_host_alive(lab_ovn):
    pid = controller_pid("ovn-controller-b")
    os.kill(pid, signal.SIGSTOP)
    try:
        dead = asked(lab_ovn["nubes-hostb"])
        alive = asked(lab_ovn["nubes-hosta"])
    finally:
        os.kill(pid, signal.SIGCONT)
    assert dead.verdict == liveness.DEAD and "did not catch up" in dead.detail, dead
    assert alive.verdict == liveness.ALIVE, alive
    deadline = time.monotonic() + 30
    while (back := asked(lab_ovn["nubes-hostb"])).verdict != liveness.ALIVE and time.monotonic() < deadline:
        time.sleep(1)
    assert back.verdict == liveness.ALIVE, back  # restored as found
