"""A copy-storage live migration moves the records of the instance's copied volumes to the
target's pool (compute.hooks.instance_migrated), on simulated hosts."""

import pytest

import hypervisor as hv
from compute.services import migration as compute_migration
from compute.tasks import migration as compute_migration_tasks
from portal.models import Operation
from storage import services
from tests.storage.conftest import define_pool, reload


@pytest.fixture
def movable(host, host_b, monkeypatch):
    """Both hosts share a CPU baseline, and the simulated pre-copy does not wait."""
    cluster = host.cluster
    cluster.cpu_baseline_xml = hv.cpu_baseline(host.uri, [hv.host_cpu_xml(h.uri) for h in (host, host_b)])
    cluster.save()
    monkeypatch.setattr(compute_migration_tasks, "_sleep", lambda _seconds: None)
    return host_b


@pytest.fixture
def pool_b(host_b, admin_user, run_tasks):
    return define_pool(admin_user, run_tasks, [host_b], "host-b-default")


def attached(alice, run_tasks, volume, instance):
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    return reload(volume)


def migrate(run_tasks, instance, target, admin_user):
    instance.image.refresh_from_db()
    hv.volume_create(instance.host.uri, instance.image.pool, instance.root_volume, 10 << 30)
    with run_tasks():
        op = compute_migration.start_migration(
            instance, target_host=target, user=admin_user, options={"copy_storage": True}
        )
    op = Operation.objects.get(pk=op.pk)
    assert op.status == "succeeded", op.error or op.message
    return op


def test_a_copied_volume_is_recorded_in_the_targets_pool_and_leaves_the_source(
    alice, admin_user, run_tasks, make_volume, instance, host, movable, pool_b, pool
):
    volume = attached(alice, run_tasks, make_volume("data"), instance)
    migrate(run_tasks, instance, movable, admin_user)
    volume = reload(volume)
    assert volume.pool == pool_b and volume.instance == instance and volume.state == "in-use"
    assert hv.volume_info(movable.uri, "default", volume.libvirt_name).path == volume.path
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(host.uri, "default", volume.libvirt_name)


def test_a_copied_volumes_external_snapshots_stay_behind_marked_not_lost(
    alice, admin_user, run_tasks, make_volume, instance, host, movable, pool_b, pool
):
    volume = attached(alice, run_tasks, make_volume("data"), instance)
    with run_tasks():
        snapshot, _ = services.create_snapshot(alice, name="before", volume=volume)
    layer = reload(snapshot).libvirt_name
    migrate(run_tasks, instance, movable, admin_user)
    volume, snapshot = reload(volume), reload(snapshot)
    assert volume.pool == pool_b and volume.backing_path == ""  # copied flattened
    assert snapshot.state == "error" and "stays on host-a" in snapshot.state_reason
    assert hv.volume_info(host.uri, "default", layer)  # the snapshot's file is still there


def test_without_a_target_pool_the_volume_says_what_to_define(
    alice, admin_user, run_tasks, make_volume, instance, movable, pool
):
    volume = attached(alice, run_tasks, make_volume("data"), instance)
    migrate(run_tasks, instance, movable, admin_user)
    volume = reload(volume)
    assert volume.pool == pool and "define a pool named default" in volume.state_reason


def test_a_volume_in_a_pool_both_hosts_see_is_left_alone(
    alice, admin_user, run_tasks, make_volume, instance, host, movable, pool
):
    pool.hosts.add(movable)
    volume = attached(alice, run_tasks, make_volume("data"), instance)
    path = volume.path
    migrate(run_tasks, instance, movable, admin_user)
    volume = reload(volume)
    assert volume.pool == pool and volume.path == path and volume.state_reason == ""
    assert hv.volume_info(host.uri, "default", volume.libvirt_name)


def test_a_root_disk_copied_into_another_pool_is_recorded_there(instance, host, movable):
    from compute import hooks
    from storage.models import RootDisk

    hooks.instance_migrated.send(
        sender=type(instance),
        instance=instance,
        source=host,
        target=movable,
        copied_storage=True,
        root_disk=("shared", "r.qcow2", "/shared/r.qcow2"),
    )
    root = RootDisk.objects.get(instance=instance)
    assert (root.pool, root.libvirt_name, root.path, root.backing_path) == ("shared", "r.qcow2", "/shared/r.qcow2", "")
    assert hooks.root_disk_files(instance, ()) == (("shared", "r.qcow2"),)
