"""Fixtures for the gateway's tests: simulated hosts from hypervisor/nodes, no Django."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hypervisor import DomainSpec, build_domain_xml, close_all, domain_define

NODES = Path(__file__).resolve().parents[2] / "hypervisor" / "nodes"


def node_uri(name: str) -> str:
    return f"test://{NODES / f'{name}.xml'}"


@pytest.fixture(autouse=True)
def fresh_hosts():
    # Closing the pool makes the next open of a node file a brand-new simulated host.
    close_all()
    yield
    close_all()


@pytest.fixture(name="node_uri")
def node_uri_fixture():
    return node_uri


@pytest.fixture
def host_a() -> str:
    return node_uri("host-a")


@pytest.fixture
def small_domain(host_a: str) -> str:
    spec = DomainSpec(name="small", memory_kib=524288, vcpus=1, max_vcpus=4, instance_id="inst-1", project_id="proj-1")
    return domain_define(host_a, build_domain_xml(spec))


REAL_URI = "qemu:///system"
REAL_SOCKET = "/var/run/libvirt/libvirt-sock"


@pytest.fixture
def real_host(monkeypatch) -> str:
    """qemu:///system of a local libvirtd; the test is skipped, with the reason, without one."""
    from hypervisor import HostUnreachable, connection

    if not os.path.exists(REAL_SOCKET):
        pytest.skip(f"no libvirtd socket at {REAL_SOCKET}: no libvirtd runs here (`make lab` starts one, as root)")
    monkeypatch.setattr(connection, "OPEN_ATTEMPTS", 1)
    try:
        connection.get_connection(REAL_URI)
    except HostUnreachable as exc:
        pytest.skip(f"libvirtd does not answer on {REAL_URI}: {exc}")
    return REAL_URI
