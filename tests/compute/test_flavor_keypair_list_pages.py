"""The flavor and key pair lists on django-tables2 + django-filter, like the other lists: sort
from the headers, search by name, page; a project's flavors and key pairs only for its members;
a key pair's Delete only where the user may write."""

import re

from compute.choices import Visibility
from compute.models import Flavor, KeyPair
from tests.list_pages import row_ids, signed_in

KEYPAIR_ROW = re.compile(r'<tr[^>]*data-keypair="([^"]+)"')
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEtXx1VGxp0Y9Vi5yBP0AUpSUsWzMvr7xXh0n0mXyHdg {}"


def keypair_names(user, url):
    page = signed_in(user).get(url).content.decode()
    return KEYPAIR_ROW.findall(page)


def test_flavors_sort_search_filter_and_page_and_hide_another_projects(alice, charlie, project_a, flavor):
    own = Flavor.objects.create(
        name="acme-big", vcpus=8, ram_mb=16384, disk_gb=80, visibility=Visibility.PROJECT, project=project_a
    )
    public = {pk for pk in Flavor.objects.filter(visibility=Visibility.PUBLIC).values_list("pk", flat=True)}

    assert row_ids(signed_in(alice), "/compute/flavors/") == public | {own.pk}
    assert row_ids(signed_in(charlie), "/compute/flavors/") == public
    assert row_ids(signed_in(alice), "/compute/flavors/?q=acme") == {own.pk}
    assert row_ids(signed_in(alice), "/compute/flavors/?visibility=project") == {own.pk}
    page = signed_in(alice).get("/compute/flavors/?q=acme").content.decode()
    assert "16384 MiB" in page and "80 GiB" in page
    by_vcpus = signed_in(alice).get("/compute/flavors/?sort=-vcpus&per_page=1").content.decode()
    assert f'data-id="{own.pk}"' in by_vcpus and "page=2" in by_vcpus
    assert 'data-error-for="visibility"' in signed_in(alice).get("/compute/flavors/?visibility=x").content.decode()


def test_key_pairs_sort_search_and_page_and_only_writers_get_delete(alice, bob, charlie, project_a):
    for name in ("web", "db", "backup"):
        KeyPair.objects.create(project=project_a, name=name, public_key=KEY.format(name), fingerprint=f"SHA256:{name}")

    assert keypair_names(alice, "/compute/keypairs/?sort=name") == ["backup", "db", "web"]
    assert keypair_names(alice, "/compute/keypairs/?sort=-name") == ["web", "db", "backup"]
    assert keypair_names(alice, "/compute/keypairs/?q=we") == ["web"]
    assert keypair_names(alice, "/compute/keypairs/?sort=name&per_page=2") == ["backup", "db"]
    assert keypair_names(charlie, "/compute/keypairs/") == []
    assert "/delete/" in signed_in(alice).get("/compute/keypairs/").content.decode()
    reader = signed_in(bob).get("/compute/keypairs/").content.decode()
    assert keypair_names(bob, "/compute/keypairs/?sort=name") == ["backup", "db", "web"]
    assert "/delete/" not in reader
