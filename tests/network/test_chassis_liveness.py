"""HA's OVN signal against a real NB, SB and ovn-northd: a host's chassis is "alive" when it
catches up with a fresh NB_Global.nb_cfg (as `ovn-nbctl --wait=hv sync` waits), "dead" when
northd passed the value on and the chassis did not, and "unknown" whenever that cannot be told."""

import pytest

from compute.models import Host
from network.ovn import liveness
from network.services.liveness import host_chassis_liveness
from tests.network.chassis_fakes import Controller, add_chassis

pytestmark = pytest.mark.django_db
WAIT_S = 2.0


def host(name, hostname=""):
    return Host(name=name, uri="test:///default", facts={"hostname": hostname} if hostname else {})


def test_a_chassis_that_catches_up_is_alive(northd, sb):
    add_chassis(sb, "chassis-b", hostname="hostb.example")
    with Controller(sb, "chassis-b"):
        seen = host_chassis_liveness(host("host-b", hostname="hostb.example"), WAIT_S)
    print(f"\nOVN signal 'alive' in {seen.seconds * 1000:.0f} ms: {seen.detail}")
    assert (seen.verdict, seen.chassis) == (liveness.ALIVE, "chassis-b"), seen
    assert sb.rows("Chassis_Private", name="chassis-b")[0]["nb_cfg"] >= sb.rows("SB_Global")[0]["nb_cfg"] > 0


def test_a_chassis_that_does_not_catch_up_is_dead(northd, sb):
    add_chassis(sb, "host-b")
    with Controller(sb, "other"):  # another chassis keeps up; this one's controller is gone
        seen = host_chassis_liveness(host("host-b"), WAIT_S)
    assert seen.verdict == liveness.DEAD, seen
    assert "did not catch up" in seen.detail and seen.seconds >= WAIT_S


def test_a_host_that_is_no_chassis_is_unknown(northd, sb):
    add_chassis(sb, "host-a")
    seen = host_chassis_liveness(host("host-b"), WAIT_S)
    assert (seen.verdict, seen.detail) == (liveness.UNKNOWN, "no OVN chassis named host-b")


def test_without_northd_nobody_can_tell(nb, sb):
    add_chassis(sb, "host-b")  # no ovn-northd: nb_cfg never reaches the SB
    seen = host_chassis_liveness(host("host-b"), 0.5)
    assert seen.verdict == liveness.UNKNOWN and "northd" in seen.detail, seen


def test_an_unreachable_southbound_is_unknown(nb, sb, monkeypatch):
    monkeypatch.setenv("NUBES_OVN_SB", "unix:/nonexistent/sb.sock")
    seen = host_chassis_liveness(host("host-b"), 0.5)
    assert seen.verdict == liveness.UNKNOWN and "did not answer" in seen.detail, seen


def test_without_ovn_configured_nobody_can_tell(monkeypatch):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.setenv("NUBES_OVN_SB", "")
    seen = host_chassis_liveness(host("host-b"), WAIT_S)
    assert seen.verdict == liveness.UNKNOWN, seen
