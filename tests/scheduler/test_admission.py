"""Admission control: a start or create that would eat the failover capacity is refused,
with the reason; shut-off instances claim nothing."""

import pytest

from compute.choices import InstanceState
from compute.models import Flavor
from portal.errors import ActionError
from scheduler import choices as c
from scheduler.services import admission, recommendations


@pytest.fixture
def small(db):
    return Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=10)


@pytest.fixture
def large(db):
    return Flavor.objects.create(name="m1.xl", vcpus=4, ram_mb=16 * 1024, disk_gb=10)


@pytest.fixture
def nearly_full(hosts, make_instance):
    """Room for one host failure is 288 - 128 = 160 GiB; 150 GiB run."""
    for n, host in enumerate(hosts):
        make_instance(host, f"r{n}", ram_gb=50)


def test_a_create_that_breaks_failover_capacity_is_refused_with_the_reason(cluster, nearly_full, large):
    with pytest.raises(ActionError) as err:
        admission.check_admission(large, cluster)
    message = str(err.value)
    assert "admission control" in message and "memory" in message and "1 host failure" in message


def test_a_create_within_failover_capacity_is_admitted(cluster, nearly_full, small):
    assert admission.check_admission(small, cluster).allowed


def test_starting_a_stopped_instance_counts_it_then(cluster, hosts, nearly_full, make_instance):
    stopped = make_instance(hosts[2], "stopped", ram_gb=16, state=InstanceState.SHUTOFF)
    with pytest.raises(ActionError, match="memory"):
        admission.check_admission(stopped, cluster)


def test_a_percentage_policy_reserves_its_share(cluster, hosts, make_instance, small):
    recommendations.update_settings(None, cluster, ha_admission=c.AdmissionPolicy.PERCENTAGE, ha_memory_percent=50)
    make_instance(hosts[0], "half", ram_gb=144)
    with pytest.raises(ActionError, match="50 % CPU|memory"):
        admission.check_admission(small, cluster)


def test_disabled_admission_admits_everything(cluster, nearly_full, large):
    recommendations.update_settings(None, cluster, ha_admission=c.AdmissionPolicy.DISABLED)
    assert admission.check_admission(large, cluster).allowed


def test_compute_refuses_a_start_that_breaks_failover_capacity(cluster, hosts, nearly_full, make_instance, admin_user):
    from compute.choices import Action
    from compute.services import instances as compute_services
    from portal.models import Operation

    stopped = make_instance(hosts[2], "stopped-big", ram_gb=16, state=InstanceState.SHUTOFF)
    with pytest.raises(ActionError, match="admission control"):
        compute_services.act(admin_user, stopped, Action.START)
    assert not Operation.objects.filter(target_id=str(stopped.pk)).exists()
