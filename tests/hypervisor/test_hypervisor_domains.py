import pytest
from lxml import etree

from hypervisor import (
    CpuQos,
    DomainNotFound,
    InvalidConfig,
    NotSupported,
    domain_define,
    domain_destroy,
    domain_get_cpu_qos,
    domain_managed_save,
    domain_pin_vcpu,
    domain_reboot,
    domain_resume,
    domain_set_balloon,
    domain_set_cpu_qos,
    domain_set_metadata,
    domain_set_vcpus,
    domain_shutdown,
    domain_start,
    domain_state,
    domain_suspend,
    domain_undefine,
    domain_xml,
    domains,
    list_domains,
)


def test_it_walks_a_domain_through_its_lifecycle(host_a, small_domain):
    assert domain_state(host_a, small_domain).state == "shutoff"
    domain_start(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "running"
    domain_suspend(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "paused"
    domain_resume(host_a, small_domain)
    domain_reboot(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "running"
    domain_destroy(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "shutoff"


def test_it_reports_a_managed_save_as_suspended_and_restores_it(host_a, small_domain):
    domain_start(host_a, small_domain)
    domain_managed_save(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "suspended"
    domain_start(host_a, small_domain)
    assert domain_state(host_a, small_domain).state == "running"


def test_it_shuts_down_gracefully_when_the_guest_obeys(host_a, small_domain):
    domain_start(host_a, small_domain)
    result = domain_shutdown(host_a, small_domain, timeout=5)
    assert result.graceful
    assert domain_state(host_a, small_domain).state == "shutoff"


class DeafGuest:
    """A domain whose guest ignores ACPI shutdown, like our busybox test guest."""

    def __init__(self):
        self.active = True
        self.destroyed = False

    def isActive(self):
        return self.active

    def shutdown(self):
        pass

    def destroy(self):
        self.active = False
        self.destroyed = True


def test_it_destroys_a_guest_that_ignores_shutdown(monkeypatch):
    guest = DeafGuest()
    monkeypatch.setattr(domains, "lookup_domain", lambda uri, uuid: guest)
    monkeypatch.setattr(domains, "SHUTDOWN_POLL_S", 0.01)
    result = domain_shutdown("test:///default", "any", timeout=0.05)
    assert guest.destroyed and not result.graceful
    assert 0.05 <= result.waited_s < 1


def test_it_undefines_a_domain(host_a, small_domain):
    domain_undefine(host_a, small_domain)
    with pytest.raises(DomainNotFound):
        domain_state(host_a, small_domain)


def test_it_raises_domain_not_found_for_an_unknown_uuid(host_a):
    with pytest.raises(DomainNotFound):
        domain_start(host_a, "00000000-0000-4000-8000-000000000000")


def test_it_rejects_malformed_domain_xml(host_a):
    with pytest.raises(InvalidConfig):
        domain_define(host_a, "<domain type='kvm'><name>x</name>")


def test_it_lists_domains_with_our_metadata(host_a, small_domain):
    [state] = list_domains(host_a)
    assert (state.uuid, state.instance_id, state.project_id) == (small_domain, "inst-1", "proj-1")
    domain_set_metadata(host_a, small_domain, "inst-2", None)
    assert domain_state(host_a, small_domain).instance_id == "inst-2"


def test_it_balloons_memory_and_hotplugs_vcpus(host_a, small_domain):
    domain_start(host_a, small_domain)
    domain_set_balloon(host_a, small_domain, 262144)
    domain_set_vcpus(host_a, small_domain, 3)
    state = domain_state(host_a, small_domain)
    assert (state.memory_kib, state.vcpus) == (262144, 3)


def _pinned(xml: str) -> str:
    return etree.fromstring(xml).find("cputune/vcpupin[@vcpu='0']").get("cpuset")


def test_it_pins_a_vcpu_live_and_in_the_config(host_a, small_domain):
    domain_start(host_a, small_domain)
    domain_pin_vcpu(host_a, small_domain, 0, "4-5")
    assert _pinned(domain_xml(host_a, small_domain)) == "4-5"
    assert _pinned(domain_xml(host_a, small_domain, inactive=True)) == "4-5"


def test_it_pins_a_stopped_vcpu_in_the_config_only(host_a, small_domain):
    domain_pin_vcpu(host_a, small_domain, 0, "7")
    assert _pinned(domain_xml(host_a, small_domain, inactive=True)) == "7"


def test_it_rejects_a_pin_beyond_the_hosts_cpus(host_a, small_domain):
    with pytest.raises(InvalidConfig):
        domain_pin_vcpu(host_a, small_domain, 0, "32")  # host-a has CPUs 0-31


def test_cpu_qos_is_not_supported_by_the_test_driver(host_a, small_domain):
    with pytest.raises(NotSupported, match="fair"):
        domain_set_cpu_qos(host_a, small_domain, CpuQos(shares=512))
    with pytest.raises(NotSupported):
        domain_get_cpu_qos(host_a, small_domain)


class CgroupDomain:
    """What a QEMU domain's scheduler looks like through libvirt (cgroups)."""

    def __init__(self):
        self.params = {"cpu_shares": 1024, "vcpu_period": 100000, "vcpu_quota": -1}
        self.flags = []

    def schedulerType(self):
        return ["posix", 5]

    def schedulerParameters(self):
        return dict(self.params)

    def setSchedulerParametersFlags(self, params, flags):
        self.params.update(params)
        self.flags.append(flags)

    def isActive(self):
        return True

    def isPersistent(self):
        return True


def test_it_sets_and_reads_cpu_qos_where_the_scheduler_has_it(monkeypatch):
    dom = CgroupDomain()
    monkeypatch.setattr(domains, "lookup_domain", lambda uri, uuid: dom)
    domain_set_cpu_qos("qemu:///system", "u", CpuQos(shares=512, quota=50000))
    assert domain_get_cpu_qos("qemu:///system", "u") == CpuQos(512, 100000, 50000)
    # QEMU refuses LIVE|CONFIG together (seen on the lab): one call for each.
    assert sorted(dom.flags) == sorted(
        [domains.libvirt.VIR_DOMAIN_AFFECT_LIVE, domains.libvirt.VIR_DOMAIN_AFFECT_CONFIG]
    )
