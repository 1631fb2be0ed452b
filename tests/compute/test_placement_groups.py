"""choose_host with a server group (placement.GroupHint): the scheduler's server group rules
applied to a new instance, inside a cluster and across clusters; and, on PostgreSQL, creates of
one anti-affinity group racing for two hosts (the group's lock: never two on one host)."""

import pytest
from django.db import connection

from compute.models import Cluster
from compute.services import placement
from compute.services.placement import GroupHint
from portal.models import Quota
from scheduler.models import ServerGroup
from scheduler.services import recommendations, server_groups
from tests.compute.conftest import add_host
from tests.compute.test_placement_race import race

RACERS = 6


def test_anti_affinity_avoids_the_members_hosts(hosts, flavor, project_a):
    host_a, host_b = hosts  # placement prefers host-a (more free memory)
    assert placement.choose_host(flavor, project_a) == host_a
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "anti-affinity", (host_a.pk,))) == host_b
    soft = GroupHint("g", "soft-anti-affinity", (host_a.pk,))
    assert placement.choose_host(flavor, project_a, group=soft) == host_b
    both = GroupHint("g", "anti-affinity", (host_a.pk, host_b.pk))
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(flavor, project_a, group=both)
    assert "rule server-group:g forbids this host" in str(err.value)
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "soft-anti-affinity", (host_a.pk, host_b.pk)))


def test_affinity_joins_the_members_host_even_in_another_cluster(hosts, flavor, project_a):
    host_a, host_b = hosts
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "affinity", (host_b.pk,))) == host_b
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "soft-affinity", (host_b.pk,))) == host_b
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "affinity")) == host_a  # no members yet
    elsewhere = add_host(Cluster.objects.create(name="c2"), "host-c")
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "affinity", (elsewhere.pk,))) == elsewhere
    assert placement.choose_host(flavor, project_a, group=GroupHint("g", "soft-affinity", (elsewhere.pk,))) == elsewhere
    elsewhere.state = "maintenance"
    elsewhere.save()
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(flavor, project_a, group=GroupHint("g", "affinity", (elsewhere.pk,)))
    assert "host-a: server group g: its servers run in another cluster" in str(err.value)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_an_anti_affinity_group_never_share_a_host(alice, project_a, hosts, flavor, image):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to test")
    Quota.objects.filter(project=project_a).update(limit=10**9)
    recommendations.update_settings(None, hosts[0].cluster, ha_enabled=False)
    group = ServerGroup.objects.create(project=project_a, name="apart", policy="anti-affinity")
    outcomes = race(
        RACERS,
        lambda index: server_groups.create_in_group(
            alice, project_a, group, name=f"racer-{index}", flavor=flavor, image=image
        ),
    )
    assert sorted(outcomes) == ["placed"] * 2 + ["refused"] * (RACERS - 2)
    assert sorted(group.members.values_list("host__name", flat=True)) == ["host-a", "host-b"]
