"""The volume list on django-tables2 + django-filter: a tenant never sees another's volumes,
search and state/pool filters narrow the rows, an unknown state is a field error, delete
selected asks on a page first and never reaches another tenant's volume."""

from storage.models import Volume
from tests.list_pages import row_ids, signed_in


def shown(client, query=""):
    return row_ids(client, f"/storage/{query}")


def test_a_tenant_sees_its_volumes_and_never_another_tenants(alice, charlie, make_volume, pool):
    data, logs = make_volume("data"), make_volume("logs")
    assert shown(signed_in(alice)) == {data.pk, logs.pk}
    assert shown(signed_in(charlie)) == set()
    assert shown(signed_in(alice), "?q=log") == {logs.pk}
    assert shown(signed_in(alice), f"?state=available&pool={pool.pk}") == {data.pk, logs.pk}
    assert shown(signed_in(alice), "?state=error") == set()
    page = signed_in(alice).get("/storage/?state=bogus").content.decode()
    assert 'data-error-for="state"' in page


def test_sizes_carry_their_unit_and_the_list_sorts_by_size(alice, make_volume):
    make_volume("small", size_gb=1)
    make_volume("large", size_gb=9)
    client = signed_in(alice)
    page = client.get("/storage/?sort=size_gb").content.decode()
    assert "1 GiB" in page and page.index(">small<") < page.index(">large<")
    page = client.get("/storage/?sort=-size_gb").content.decode()
    assert page.index(">large<") < page.index(">small<")


def test_delete_selected_asks_first_and_never_reaches_another_tenant(alice, charlie, make_volume, run_tasks):
    volume = make_volume("doomed")
    with run_tasks():
        signed_in(charlie).post(
            "/storage/volumes/bulk/", {"action": "delete", "selection": [volume.pk], "confirmed": "yes"}
        )
    assert Volume.objects.filter(pk=volume.pk).exists()
    client = signed_in(alice)
    asked = client.post("/storage/volumes/bulk/", {"action": "delete", "selection": [volume.pk]})
    assert 'id="bulk-confirm"' in asked.content.decode()
    assert Volume.objects.get(pk=volume.pk).state == "available"
    with run_tasks():
        client.post("/storage/volumes/bulk/", {"action": "delete", "selection": [volume.pk], "confirmed": "yes"})
    assert not Volume.objects.filter(pk=volume.pk).exclude(state="deleting").exists()


def test_a_reader_gets_no_checkboxes(alice, bob, make_volume):
    make_volume()
    assert 'name="selection"' in signed_in(alice).get("/storage/").content.decode()
    assert 'name="selection"' not in signed_in(bob).get("/storage/").content.decode()
