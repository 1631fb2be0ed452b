import libvirt
import pytest

from hypervisor import (
    DomainSpec,
    build_domain_xml,
    cpu_baseline,
    cpu_compare,
    domain_define,
    domain_start,
    host_cpu_xml,
    host_facts,
    kvm_usable,
)
from hypervisor.host import _kvm_status


@pytest.mark.parametrize(
    "name,cpus,mib,nodes", [("host-a", 32, 131072, 2), ("host-b", 24, 98304, 2), ("host-c", 24, 65536, 1)]
)
def test_the_demo_nodes_load_with_their_declared_size(node_uri, name, cpus, mib, nodes):
    info = libvirt.open(node_uri(name)).getInfo()
    assert (info[1], info[2], info[4]) == (mib, cpus, nodes)
    facts = host_facts(node_uri(name))
    assert facts.cpus == facts.sockets * facts.cores * facts.threads == cpus
    assert len(facts.numa_cells) == nodes
    assert sum(len(c.cpus) for c in facts.numa_cells) == cpus


def test_host_facts_describe_a_simulated_host(host_a):
    facts = host_facts(host_a)
    assert facts.hostname == "host-a" and facts.simulated
    assert (facts.cpu_model, facts.cpu_vendor) == ("Cascadelake-Server", "Intel")
    assert facts.memory_free_kib == facts.memory_total_kib == 128 * 1024 * 1024
    assert facts.domain_types == ("test",)
    assert not facts.kvm_usable and "simulated" in facts.kvm_note


def test_free_memory_shrinks_when_a_domain_runs(host_a):
    uuid = domain_define(host_a, build_domain_xml(DomainSpec(name="m", memory_kib=4194304)))
    domain_start(host_a, uuid)
    facts = host_facts(host_a)
    assert facts.memory_total_kib - facts.memory_free_kib == 4194304


def test_kvm_is_not_trusted_without_the_operator_saying_so(monkeypatch):
    monkeypatch.delenv("NUBES_TRUST_KVM", raising=False)
    status = _kvm_status(False, ("kvm", "qemu"), "qemu+tls://h1/system")
    assert not status.usable and "NUBES_TRUST_KVM" in status.note
    monkeypatch.setenv("NUBES_TRUST_KVM", "1")
    assert _kvm_status(False, ("kvm", "qemu"), "qemu+tls://h1/system").usable
    assert not _kvm_status(False, ("qemu",), "qemu+tls://h1/system").usable


def test_kvm_usable_is_false_on_a_simulated_host(host_a):
    assert not kvm_usable(host_a).usable


def test_the_cluster_baseline_is_the_oldest_cpu(node_uri):
    hosts = [node_uri(n) for n in ("host-a", "host-b", "host-c")]
    baseline = cpu_baseline(hosts[0], [host_cpu_xml(h) for h in hosts])
    assert "<model fallback='allow'>Broadwell-noTSX</model>" in baseline
    assert [cpu_compare(h, baseline) for h in hosts] == ["superset", "superset", "identical"]


def test_a_newer_cpu_is_incompatible_with_an_older_host(node_uri):
    newer = host_cpu_xml(node_uri("host-a")).replace("<cpu>", "<cpu mode='custom'>")
    assert cpu_compare(node_uri("host-c"), newer) == "incompatible"
    assert cpu_compare(node_uri("host-a"), "<cpu mode='host-model'/>") == "identical"
