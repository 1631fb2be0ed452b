"""Against a real local libvirtd (qemu:///system); skipped when none answers."""

import pytest

from hypervisor import host_facts, list_domains

pytestmark = pytest.mark.integration


def test_a_real_host_reports_qemu_and_distrusts_kvm(real_host, monkeypatch):
    monkeypatch.delenv("NUBES_TRUST_KVM", raising=False)
    facts = host_facts(real_host)
    assert not facts.simulated and "qemu" in facts.domain_types
    assert facts.cpus > 0 and facts.memory_total_kib > 0 and facts.cpu_model
    assert not facts.kvm_usable and facts.kvm_note


def test_a_real_host_lists_its_domains(real_host):
    assert all(d.uuid for d in list_domains(real_host))
