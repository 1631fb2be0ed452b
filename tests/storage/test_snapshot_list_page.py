"""The snapshot list on django-tables2 + django-filter: a tenant sees its volumes' and
instances' snapshots and never another tenant's; search and state filter; each row links to
the tree it belongs to."""

from storage import services
from tests.list_pages import row_ids, signed_in


def test_a_tenant_sees_its_snapshots_and_never_another_tenants(alice, charlie, make_volume, run_tasks):
    volume = make_volume("data")
    with run_tasks():
        snapshot, _ = services.create_snapshot(alice, volume=volume, name="before-upgrade")
    client = signed_in(alice)
    assert row_ids(client, "/storage/snapshots/") == {snapshot.pk}
    assert row_ids(signed_in(charlie), "/storage/snapshots/") == set()
    assert row_ids(client, "/storage/snapshots/?q=before") == {snapshot.pk}
    assert row_ids(client, "/storage/snapshots/?state=error") == set()
    page = client.get("/storage/snapshots/").content.decode()
    assert f'href="/storage/volumes/{volume.pk}/"' in page
    assert 'data-error-for="state"' in client.get("/storage/snapshots/?state=bogus").content.decode()
