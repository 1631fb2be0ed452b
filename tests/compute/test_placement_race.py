"""Host capacity is claimed atomically at placement: 20 creates racing, from 20 threads with
their own PostgreSQL connections, for a host with room for 5 -> exactly 5 are placed, the
other 15 get NoValidHost, and the host is neither over- nor under-filled."""

import threading

import pytest
from django.db import close_old_connections, connection

from compute.models import Flavor, Instance
from compute.services import instances as services
from compute.services import placement
from portal.models import Quota
from scheduler.services import recommendations

RACERS = 20
ROOM_FOR = 5

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_creates_take_exactly_the_room_one_host_has(alice, project_a, host_a, image):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to test")
    Quota.objects.filter(project=project_a).update(limit=10**9)
    cluster = host_a.cluster
    recommendations.update_settings(None, cluster, ha_enabled=False)  # one host: no failover room to keep
    free_mb = (host_a.memory_mb - host_a.reserved_memory_mb) * cluster.ram_overcommit
    flavor = Flavor.objects.create(name="fifth", vcpus=1, ram_mb=int(free_mb // ROOM_FOR), disk_gb=1)
    outcomes = race(
        RACERS,
        lambda index: services.create_instance(alice, project_a, name=f"racer-{index}", flavor=flavor, image=image),
    )
    assert sorted(outcomes) == ["placed"] * ROOM_FOR + ["refused"] * (RACERS - ROOM_FOR)
    placed = Instance.objects.filter(host=host_a)
    assert placed.count() == ROOM_FOR
    assert sum(placed.values_list("ram_mb", flat=True)) <= free_mb


def race(racers, create):
    """Runs create(index) in `racers` threads at once, each on its own database connection;
    the outcomes: "placed", "refused" (NoValidHost) or the unexpected error's text."""
    barrier = threading.Barrier(racers)
    outcomes = []

    def run(index):
        try:
            barrier.wait(timeout=30)
            create(index)
            outcomes.append("placed")
        except placement.NoValidHost:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
            outcomes.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes
