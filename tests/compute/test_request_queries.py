"""What bench/load.py's readers ask for, counted in SQL queries, asked as they ask it (a cloud
admin sending an API token and a session cookie on every request): the API lists and an
instance, the instances page and an instance's page. No count grows with the rows behind it, and
an API read does not read the session (the current-project lookup for the UI cost three of an
API read's six queries)."""

import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from compute.models import Instance, InstanceEvent, InstanceSample, Migration
from compute.models.migration import MigrationState
from network.models import FloatingIP, IPAllocation, Network, Port, Subnet
from portal.models import ApiToken, Operation
from scheduler.choices import HaEventKind
from scheduler.models import HaEvent
from storage.models import StoragePool, Volume
from tests.compute.conftest import add_host

PAGE = "?page_size=20"
API_LISTS = {  # url: queries (token, count, page)
    f"/api/v1/instances/{PAGE}": 3,
    f"/api/v1/operations/{PAGE}": 3,
    f"/api/v1/volumes/{PAGE}": 3,
}


@pytest.fixture
def reader(admin_user):
    _, token = ApiToken.issue(admin_user, "load")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.force_login(admin_user)
    return client


@pytest.fixture
def grow(project_a, host_a, flavor, image, admin_user):
    pool = StoragePool.objects.create(name="shared", libvirt_name="shared", target_path="/var/lib/nubes/shared")

    def grow(count):
        """count more instances, volumes and operations, and as many events, operations and
        metric samples of the first instance (what its page lists and charts)."""
        start = Instance.objects.count()
        Instance.objects.bulk_create(
            Instance(
                project=project_a,
                name=f"vm{start + n}",
                flavor=flavor,
                image=image,
                host=host_a,
                vcpus=1,
                ram_mb=flavor.ram_mb,
                disk_gb=flavor.disk_gb,
                state="active",
            )
            for n in range(count)
        )
        first = Instance.objects.order_by("pk").first()
        Volume.objects.bulk_create(
            Volume(project=project_a, name=f"v{start + n}", pool=pool, size_gb=1, state="available")
            for n in range(count)
        )
        Operation.objects.bulk_create(
            Operation(
                kind="instance.reboot",
                target_type="compute.instance",
                target_id=str(pk),
                target_name="vm",
                project=project_a,
                requester=admin_user,
                status="succeeded",
            )
            for pk in [first.pk] * count + list(Instance.objects.values_list("pk", flat=True)[:count])
        )
        InstanceEvent.objects.bulk_create(
            InstanceEvent(instance=first, source="libvirt", kind="started") for _ in range(count)
        )
        now = int(time.time())
        InstanceSample.objects.bulk_create(
            InstanceSample(instance=first, ts=now - 10 * (start + n), cpu_pct=n, mem_used_mb=n) for n in range(count)
        )
        return first

    return grow


def sql(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return [query["sql"] for query in captured]


@pytest.mark.parametrize("url", list(API_LISTS))
def test_an_api_list_takes_a_pinned_number_of_queries_whatever_the_rows(reader, grow, url):
    grow(3)
    sql(reader, url)  # the token's first use writes last_used
    few = sql(reader, url)
    grow(60)
    many = sql(reader, url)
    assert len(few) == len(many) == API_LISTS[url], many
    assert not any("django_session" in query for query in many)


def test_an_api_instance_read_takes_two_queries_and_no_session(reader, grow):
    first = grow(30)
    url = f"/api/v1/instances/{first.pk}/"
    sql(reader, url)
    queries = sql(reader, url)
    assert len(queries) == 2, queries  # the token (with its user), the instance (with its relations)
    assert not any("django_session" in query for query in queries)


def test_the_instances_page_query_count_does_not_grow_with_rows(reader, grow):
    grow(3)
    sql(reader, "/compute/instances/")
    few = sql(reader, "/compute/instances/")
    grow(60)  # past a page (50)
    many = sql(reader, "/compute/instances/")
    assert len(many) == len(few), many


def test_an_instance_page_query_count_does_not_grow_with_its_operations_events_and_samples(reader, grow):
    first = grow(3)
    url = f"/compute/instances/{first.pk}/"
    sql(reader, url)
    few = sql(reader, url)
    grow(40)
    many = sql(reader, url)
    assert len(many) == len(few), many


INSTANCE_PAGE_QUERIES = 19  # session 9: 33 before (7 metric series, the migrate form's hints); 11: 21


def test_an_instance_page_takes_a_pinned_number_of_queries(reader, grow, cluster):
    """A cloud admin's view of an instance with two other hosts to migrate to: its seven metric
    series in one query, and the migrate form's per-target hints (room, CPU baseline, shared
    pools) left unread, as the page draws its own target list without them; the targets' pools
    in one query, no floating IPs looked for without a port (session 11)."""
    add_host(cluster, "host-b")
    add_host(cluster, "host-c")
    first = grow(40)
    url = f"/compute/instances/{first.pk}/"
    sql(reader, url)
    queries = sql(reader, url)
    assert len(queries) == INSTANCE_PAGE_QUERIES, "\n".join(queries)
    assert sum("compute_instancesample" in query for query in queries) == 1
    assert not any("storage_rootdisk" in query for query in queries)  # the hints' first read
    assert sum("storage_storagepool_hosts" in query for query in queries) == 1  # every target's pools


PORT_QUERIES = 3  # its addresses and security groups (prefetched), its floating IPs


def test_an_instance_page_with_every_card_filled_reads_no_column_later(reader, grow, cluster, host_a):
    """The page's lists and cards read only the columns they show (session 11: the migration's
    hosts, HA events' instance and host, volumes, operations): with a row in each, none is read
    again for a column left out."""
    host_b = add_host(cluster, "host-b")
    first = grow(25)
    Migration.objects.create(
        instance=first, source=host_a, target=host_b, state=MigrationState.SUCCEEDED, samples=[{"t": 1}]
    )
    HaEvent.objects.create(cluster=cluster, host=host_a, instance=first, kind=HaEventKind.FENCED, detail="x")
    pool = StoragePool.objects.get(name="shared")
    Volume.objects.create(
        project=first.project, name="data", pool=pool, size_gb=2, state="in-use", instance=first, target_dev="vdb"
    )
    network = Network.objects.create(project=first.project, name="web")
    subnet = Subnet.objects.create(project=first.project, network=network, cidr="10.0.0.0/24")
    port = Port.objects.create(project=first.project, network=network, mac_address="52:54:00:00:00:01", instance=first)
    IPAllocation.objects.create(subnet=subnet, address="10.0.0.5", port=port)
    outside = IPAllocation.objects.create(subnet=subnet, address="10.0.0.99")
    FloatingIP.objects.create(project=first.project, network=network, allocation=outside, port=port)
    url = f"/compute/instances/{first.pk}/"
    sql(reader, url)
    queries = sql(reader, url)
    assert len(queries) == INSTANCE_PAGE_QUERIES + PORT_QUERIES, "\n".join(queries)
    html = reader.get(url).content.decode()
    assert "host-a → host-b" in html and "Fenced" in html and ">data</a>" in html and "10.0.0.99" in html
