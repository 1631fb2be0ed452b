"""A dir pool's directory the portal made goes with the pool: when the directory was missing at
the pool's first start on a host (the start fails; the portal builds it: libvirt's mkdir) the
host is recorded in ``built_on``, and the pool's delete removes the directory there between stop
and undefine (virStoragePoolDelete, an rmdir), after every other host let go of the pool. A
directory that was there before stays, and so does one holding files the portal did not make.
libvirt's test driver starts a pool whatever its directory, so the first start is made to fail
as a real host's does; the real rmdir is tests/integration/test_pool_directory_lab.py."""

import pytest

import hypervisor as hv
from compute.models import Host
from portal.models import Operation
from storage import services
from storage.models import StoragePool
from tests.storage.conftest import define_pool


@pytest.fixture
def real_flagged(host, host_b):
    Host.objects.update(simulated=False)
    return [Host.objects.get(pk=h.pk) for h in (host, host_b)]


@pytest.fixture
def missing_on(monkeypatch):
    """missing_on(*host names): the pool's directory is missing there until a build makes it."""
    calls, missing = [], set()
    real_start, real_delete = hv.pool_start, hv.pool_delete

    def start(uri, name, *, build=False, autostart=True):
        where = next((m for m in missing if m in uri), None)
        if where and not build:
            raise hv.OperationFailed(f"cannot open directory for pool {name}: No such file", uri=uri)
        missing.discard(where)
        return real_start(uri, name, build=build, autostart=autostart)

    def delete(uri, name, *, delete_data=False):
        calls.append((uri.split("/")[-1], delete_data))
        return real_delete(uri, name, delete_data=delete_data)

    monkeypatch.setattr(hv, "pool_start", start)
    monkeypatch.setattr(hv, "pool_delete", delete)

    def arrange(*names):
        missing.update(names)
        return calls

    return arrange


def delete(admin_user, run_tasks, pool):
    with run_tasks():
        op = services.delete_pool(admin_user, pool)
    op = Operation.objects.get(pk=op.pk)
    assert op.status == "succeeded", op.error
    assert not StoragePool.objects.filter(pk=pool.pk).exists()
    return op


def test_the_directory_the_portal_made_is_deleted_with_the_pool_after_the_other_hosts(
    admin_user, run_tasks, real_flagged, missing_on
):
    host_a, host_b = real_flagged
    calls = missing_on("host-a")  # host-b sees the directory host-a made (one file system)
    pool = define_pool(admin_user, run_tasks, [host_a, host_b], "made", "made", "/srv/nubes-made")
    assert pool.state == "active" and pool.built_on == [host_a.pk]
    delete(admin_user, run_tasks, pool)
    assert calls == [("host-b.xml", False), ("host-a.xml", True)]


def test_a_directory_that_was_there_stays(admin_user, run_tasks, real_flagged, missing_on):
    calls = missing_on()
    pool = define_pool(admin_user, run_tasks, real_flagged[:1], "there", "there", "/srv/nubes-there")
    assert pool.built_on == []
    delete(admin_user, run_tasks, pool)
    assert calls == [("host-a.xml", False)]


def test_a_directory_holding_other_files_is_kept_and_the_pool_still_goes(
    admin_user, run_tasks, real_flagged, missing_on, monkeypatch
):
    calls = missing_on("host-a")
    pool = define_pool(admin_user, run_tasks, real_flagged[:1], "full", "full", "/srv/nubes-full")
    undefine = hv.pool_delete

    def not_empty(uri, name, *, delete_data=False):
        if delete_data:
            calls.append(("rmdir", True))
            hv.pool_stop(uri, name)
            raise hv.OperationFailed("cannot remove directory '/srv/nubes-full': Directory not empty", uri=uri)
        return undefine(uri, name)

    monkeypatch.setattr(hv, "pool_delete", not_empty)
    op = delete(admin_user, run_tasks, pool)
    assert "directory stays on host-a: /srv/nubes-full kept" in op.message and "not empty" in op.message
    assert calls[-2:] == [("rmdir", True), ("host-a.xml", False)]
    with pytest.raises(hv.PoolNotFound):
        hv.pool_info(real_flagged[0].uri, "full")


def test_a_simulated_host_builds_nothing_and_removes_nothing(admin_user, run_tasks, host, missing_on):
    calls = missing_on()
    pool = define_pool(admin_user, run_tasks, [host], "sim", "sim", "/srv/nubes-sim")
    assert pool.built_on == []
    delete(admin_user, run_tasks, pool)
    assert calls == [("host-a.xml", False)]
