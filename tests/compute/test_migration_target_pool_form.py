"""The instance page's migrate form offers the copy-storage target pool: the pools each
target host reaches (only the chosen target's once one is chosen); compute.migration's
check of the pool on the target is shown at the form's target_pool field."""

import re

import pytest

import hypervisor as hv
from compute.forms import MigrateForm
from compute.models import Host, Migration
from storage.choices import PoolState
from storage.models import StoragePool
from tests.compute.conftest import add_host
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401
from tests.compute.test_migration_pages import client


@pytest.fixture
def pools(hosts):
    """'fast' on host-b (a migration target), 'local-a' only on host-a (the source)."""
    fast = StoragePool.objects.create(name="fast", libvirt_name="fast", state=PoolState.ACTIVE)
    fast.hosts.add(hosts[1])
    local = StoragePool.objects.create(name="local-a", libvirt_name="local-a", state=PoolState.ACTIVE)
    local.hosts.add(hosts[0])
    return fast, local


@pytest.fixture
def admin(admin_user):
    return client(admin_user)


def migrate(admin, instance, **fields):
    return admin.post(f"/compute/instances/{instance.pk}/migrate/", {"live": "1", **fields})


def test_the_form_offers_the_pools_each_target_host_reaches(admin, running, pools):
    html = admin.get(f"/compute/instances/{running.pk}/").content.decode()
    assert '<optgroup label="host-b">' in html and '<option value="fast">fast</option>' in html
    assert "local-a" not in html  # only the source reaches it
    # static/js/pool_filter.js narrows the groups to the picked target in the browser.
    assert 'data-pools-of="target_host"' in html and "js/pool_filter.js" in html


def test_the_page_draws_the_same_pool_select_as_the_form(admin, running, hosts, pools):
    """The instance page draws the target_pool select itself (no MigrateForm: session 11, its
    fields and widget templates were about a tenth of the page's CPU): as the form's own widget does,
    every target's pools, a label naming the libvirt pool when it differs."""
    host_c = add_host(hosts[0].cluster, "host-c")
    odd = StoragePool.objects.create(name="o'dd", libvirt_name="odd-lv", state=PoolState.ACTIVE)
    odd.hosts.add(hosts[1], host_c)
    StoragePool.objects.create(name="down", libvirt_name="down", state=PoolState.INACTIVE).hosts.add(host_c)
    html = admin.get(f"/compute/instances/{running.pk}/").content.decode()
    drawn = re.search(r'<select name="target_pool".*?</select>', html, re.S).group(0)
    assert drawn == str(MigrateForm(instance=running)["target_pool"])
    assert '<optgroup label="host-c">' in drawn and "o&#x27;dd (odd-lv)" in drawn and "down" not in drawn


def test_a_pool_another_host_reaches_is_no_choice_for_the_chosen_target(admin, running, hosts, pools, baseline):
    response = migrate(admin, running, target_host=hosts[1].pk, copy_storage="1", target_pool="local-a")
    assert response.status_code == 400
    assert 'data-error-for="target_pool"' in response.content.decode()
    assert not Migration.objects.exists()


def test_a_pool_the_target_does_not_have_is_a_form_error(admin, running, hosts, pools, baseline, monkeypatch):
    Host.objects.filter(pk=hosts[1].pk).update(simulated=False)  # a real target is asked for its pool

    def pool_info(uri, name):
        raise hv.PoolNotFound(f"no pool {name}")

    monkeypatch.setattr(hv, "pool_info", pool_info)
    response = migrate(admin, running, target_host=hosts[1].pk, copy_storage="1", target_pool="fast")

    assert response.status_code == 400
    html = response.content.decode()
    error = html[html.index('data-error-for="target_pool"') :]
    assert "host-b has no storage pool fast" in error[:400]
    assert not Migration.objects.exists()


def test_the_chosen_pool_goes_to_the_migration(admin, running, hosts, pools, baseline, instant):
    response = migrate(admin, running, target_host=hosts[1].pk, copy_storage="1", target_pool="fast")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Migration.objects.get(instance=running).options["target_pool"] == "fast"
