"""Against a real local libvirtd (qemu:///system); skipped when none answers."""
import os

import pytest

from hypervisor import HostUnreachable, host_facts, list_domains
from hypervisor import connection

URI = "qemu:///system"
SOCKET = "/var/run/libvirt/libvirt-sock"

pytestmark = pytest.mark.integration


@pytest.fixture
def real_host(monkeypatch):
    if not os.path.exists(SOCKET):
        pytest.skip(f"no libvirtd socket at {SOCKET}")
    monkeypatch.setattr(connection, "OPEN_ATTEMPTS", 1)
    try:
        connection.get_connection(URI)
    except HostUnreachable as exc:
        pytest.skip(f"libvirtd does not answer on {URI}: {exc}")
    return URI


def test_a_real_host_reports_qemu_and_distrusts_kvm(real_host, monkeypatch):
    monkeypatch.delenv("NUBES_TRUST_KVM", raising=False)
    facts = host_facts(real_host)
    assert not facts.simulated and "qemu" in facts.domain_types
    assert facts.cpus > 0 and facts.memory_total_kib > 0 and facts.cpu_model
    assert not facts.kvm_usable and facts.kvm_note


def test_a_real_host_lists_its_domains(real_host):
    assert all(d.uuid for d in list_domains(real_host))
