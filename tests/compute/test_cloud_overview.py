"""The cloud admins' overview and host list: capacity used against what hosts offer, per
cluster and per host (vCPU, RAM, instances), hosts needing attention, operations running and
failed; tenants are sent to sign in as staff."""

import re

from compute.choices import HostState
from portal.choices import OperationStatus
from portal.models import Operation
from tests.list_pages import signed_in


def test_the_overview_shows_allocation_attention_and_operations(admin_user, alice, hosts, launch, flavor):
    _, instance = launch("alice", name="counted")
    hosts[1].state, hosts[1].state_reason = HostState.MAINTENANCE, "disk swap"
    hosts[1].save()
    Operation.objects.create(kind="instance.start", status=OperationStatus.FAILED, target_name="broken", message="no")
    page = signed_in(admin_user).get("/compute/overview/").content.decode()
    cluster = page[page.index(f'data-cluster="{hosts[0].cluster_id}"') :]
    cluster = cluster[: cluster.index("</tr>")]
    assert "1 / 2" in cluster  # hosts up / all
    assert f"{flavor.vcpus} / " in cluster and "vCPU" in cluster and "GiB" in cluster
    attention = page[page.index('id="overview-attention"') :]
    assert hosts[1].name in attention and "Maintenance" in attention and "disk swap" in attention
    assert "broken" in page[page.index('id="overview-failures"') :]
    failed = page[page.index('id="overview-failed"') :]
    assert re.search(r'stat-value">1<', failed)


def test_the_host_list_shows_used_and_free_capacity_and_filters(admin_user, hosts, launch, flavor):
    _, instance = launch("alice")
    client = signed_in(admin_user)
    page = client.get("/compute/hosts/?sort=-placed").content.decode()
    row = page[page.index(f'data-id="{instance.host_id}"') :]
    row = row[: row.index("</tr>")]
    assert f"{flavor.vcpus} / {instance.host.cpus} vCPU" in row and "<meter" in row
    other = next(h for h in hosts if h.pk != instance.host_id)
    assert f'data-id="{other.pk}"' not in client.get(f"/compute/hosts/?q={instance.host.name}").content.decode()
    assert 'data-error-for="state"' in client.get("/compute/hosts/?state=bogus").content.decode()


def test_tenants_do_not_get_the_admin_pages(alice, hosts):
    for url in ("/compute/overview/", "/compute/hosts/"):
        assert signed_in(alice).get(url).status_code == 302
