"""Memory hotplug: the <memory model='dimm'> device (golden file) and the simulated attach on
test:// hosts, which refuses what a real QEMU would refuse."""

from pathlib import Path

import pytest
from lxml import etree

from hypervisor import (
    DomainSpec,
    InvalidConfig,
    NumaCellSpec,
    build_domain_xml,
    build_memory_xml,
    domain_attach_memory,
    domain_define,
    domain_start,
    domain_xml,
)

GOLDEN = Path(__file__).parent / "golden"
GIB_KIB = 1024 * 1024
HALF_GIB_KIB = GIB_KIB // 2


def test_the_dimm_device_matches_the_golden_file():
    assert build_memory_xml(HALF_GIB_KIB, 0) == (GOLDEN / "memory_dimm.xml").read_text()


@pytest.mark.parametrize("size, node", [(0, 0), (1000, 0), (HALF_GIB_KIB, -1)])
def test_it_refuses_an_unaligned_size_or_a_negative_node(size, node):
    with pytest.raises(InvalidConfig):
        build_memory_xml(size, node)


def hotplug_domain(uri, slots=2, ceiling=4 * GIB_KIB, cells=True):
    spec = DomainSpec(
        name="grow",
        memory_kib=GIB_KIB,
        vcpus=1,
        max_memory_kib=ceiling,
        memory_slots=slots,
        numa_cells=(NumaCellSpec(id=0, cpus="0", memory_kib=GIB_KIB),) if cells else (),
    )
    return domain_define(uri, build_domain_xml(spec))


def memory_of(uri, uuid):
    root = etree.fromstring(domain_xml(uri, uuid, inactive=True).encode())
    return int(root.findtext("memory")), int(root.findtext("currentMemory")), len(root.findall("devices/memory"))


def test_a_simulated_attach_grows_the_definition_and_says_so(host_a):
    uuid = hotplug_domain(host_a)
    domain_start(host_a, uuid)
    change = domain_attach_memory(host_a, uuid, HALF_GIB_KIB, 0)
    assert change.simulated and not change.live and change.memory_kib == GIB_KIB + HALF_GIB_KIB
    assert memory_of(host_a, uuid) == (GIB_KIB + HALF_GIB_KIB, GIB_KIB + HALF_GIB_KIB, 1)


def test_it_refuses_past_the_ceiling_or_the_slots(host_a):
    uuid = hotplug_domain(host_a, slots=1, ceiling=2 * GIB_KIB)
    with pytest.raises(InvalidConfig, match="exceed"):
        domain_attach_memory(host_a, uuid, 2 * GIB_KIB, 0)
    domain_attach_memory(host_a, uuid, HALF_GIB_KIB, 0)
    with pytest.raises(InvalidConfig, match="slots"):
        domain_attach_memory(host_a, uuid, HALF_GIB_KIB // 2, 0)
    assert memory_of(host_a, uuid)[2] == 1


def test_it_refuses_a_domain_without_hotplug_or_without_the_cell(host_a):
    plain = domain_define(host_a, build_domain_xml(DomainSpec(name="plain", memory_kib=GIB_KIB, vcpus=1)))
    with pytest.raises(InvalidConfig, match="maxMemory"):
        domain_attach_memory(host_a, plain, HALF_GIB_KIB, 0)
    grow = hotplug_domain(host_a)
    with pytest.raises(InvalidConfig, match="NUMA cell 1"):
        domain_attach_memory(host_a, grow, HALF_GIB_KIB, 1)
