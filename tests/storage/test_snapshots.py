"""Snapshots: internal on instances, external overlay chains on volumes; revert; delete with merge;
storage migration and space reclamation."""

import pytest

import hypervisor as hv
from portal.errors import Conflict
from portal.models import Operation, Quota
from storage import chains, services
from storage.models import Snapshot, Volume
from tests.storage.conftest import disk_sources, pool_volumes, reload


def snap(user, run_tasks, **kwargs):
    with run_tasks():
        snapshot, op = services.create_snapshot(user, **kwargs)
    assert reload(op).status == "succeeded", op.error
    return reload(snapshot)


def gateway_graph(host, volume):
    """{path: backing} as the pool reports it, for every file of the volume's chain."""
    files = {v.path: v.backing_path or "" for v in pool_volumes(host).values()}
    db = chains.graph(reload(volume))
    return {path: files.get(path, "MISSING") for path in db}


def test_an_external_snapshot_freezes_the_file_and_adds_an_overlay(make_volume, alice, host, run_tasks):
    volume = make_volume()
    first_path = volume.path
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    volume = reload(volume)
    assert s1.layer_path == first_path and s1.current and s1.kind == "external"
    assert volume.path != first_path and volume.backing_path == first_path
    assert gateway_graph(host, volume) == chains.graph(volume)
    assert Quota.objects.get(project=volume.project, resource="snapshots").in_use == 1


def test_snapshot_of_an_attached_stopped_volume_moves_the_disk_to_the_overlay(
    make_volume, alice, stopped_instance, host, run_tasks
):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, stopped_instance)
    snap(alice, run_tasks, volume=reload(volume), name="s1")
    assert disk_sources(host, stopped_instance)["vdb"] == reload(volume).path


def test_delete_a_middle_snapshot_merges_and_keeps_the_chain(make_volume, alice, host, run_tasks):
    volume = make_volume()
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    s2 = snap(alice, run_tasks, volume=reload(volume), name="s2")
    snap(alice, run_tasks, volume=reload(volume), name="s3")
    with run_tasks():
        services.delete_snapshot(alice, reload(s2))
    volume = reload(volume)
    assert not Snapshot.objects.filter(pk=s2.pk).exists()
    assert gateway_graph(host, volume) == chains.graph(volume)
    assert [s.name for s in Snapshot.objects.filter(volume=volume)] == ["s1", "s3"]
    assert Snapshot.objects.get(name="s3").parent == reload(s1)


def test_revert_puts_a_fresh_overlay_on_the_chosen_point(make_volume, alice, host, run_tasks):
    volume = make_volume()
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    snap(alice, run_tasks, volume=reload(volume), name="s2")
    old_active = reload(volume).libvirt_name
    with run_tasks():
        services.revert_snapshot(alice, reload(s1))
    volume = reload(volume)
    assert volume.backing_path == s1.layer_path and reload(s1).current
    assert old_active not in pool_volumes(host)
    assert gateway_graph(host, volume) == chains.graph(volume)


def test_deleting_a_point_with_two_branches_is_refused(make_volume, alice, run_tasks):
    volume = make_volume()
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    snap(alice, run_tasks, volume=reload(volume), name="s2")
    with run_tasks():
        services.revert_snapshot(alice, reload(s1))
    with pytest.raises(Conflict, match="branches"):
        services.delete_snapshot(alice, reload(s1))
    assert reload(s1).state == "available"


def test_revert_of_a_running_guests_disk_is_refused(make_volume, alice, instance, run_tasks):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1 = snap(alice, run_tasks, volume=reload(volume), name="s1")
    with pytest.raises(Conflict, match="stop the instance"):
        services.revert_snapshot(alice, s1)


def test_merge_on_a_running_guest_runs_a_block_job_with_progress(make_volume, alice, instance, host, run_tasks):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1 = snap(alice, run_tasks, volume=reload(volume), name="s1")
    with run_tasks():
        op = services.delete_snapshot(alice, s1)
    op = reload(op)
    assert op.status == "succeeded", op.error
    volume = reload(volume)
    assert volume.backing_path == "" and gateway_graph(host, volume) == chains.graph(volume)


def test_internal_instance_snapshots_follow_libvirts_tree(alice, instance, host, run_tasks):
    a = snap(alice, run_tasks, instance=instance, name="a")
    b = snap(alice, run_tasks, instance=instance, name="b")
    assert b.parent == a and b.current and b.with_memory
    with run_tasks():
        services.revert_snapshot(alice, reload(a))
    with run_tasks():
        services.delete_snapshot(alice, reload(a))
    listed = {s.name: s for s in hv.snapshot_list(host.uri, str(instance.uuid))}
    assert set(listed) == {reload(b).libvirt_name}
    assert reload(b).parent is None


def test_live_move_to_another_pool_copies_and_pivots(make_volume, alice, instance, fast_pool, host, run_tasks):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    old = reload(volume).libvirt_name
    with run_tasks():
        op = services.migrate_volume(alice, reload(volume), fast_pool)
    op = reload(op)
    assert op.status == "succeeded", op.error
    assert op.cancellable and "simulated" in op.message
    volume = reload(volume)
    assert volume.pool == fast_pool and volume.path.startswith("/srv/fast/")
    assert disk_sources(host, instance)["vdb"] == volume.path
    assert old not in pool_volumes(host)


def test_reclaim_explains_the_missing_guest_agent(make_volume, alice, instance, run_tasks):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    with run_tasks():
        op = services.reclaim_space(alice, reload(volume))
    op = reload(op)
    assert op.status == "failed" and "qemu-guest-agent" in op.message
    assert reload(volume).state == "in-use"


def test_a_raw_device_mapping_attaches_as_a_scsi_lun(
    admin_user, alice, project_a, pool, stopped_instance, host, run_tasks
):
    volume = services.map_device(
        admin_user, project_a, name="san-lun", pool=pool, device_path="/dev/sdb", device_type="lun"
    )
    with run_tasks():
        services.attach_volume(alice, volume, stopped_instance)
    xml = hv.domain_xml(host.uri, str(stopped_instance.uuid), inactive=True)
    assert 'device="lun"' in xml.replace("'", '"') and "/dev/sdb" in xml
    assert reload(volume).target_dev == "sdb"


def test_deleting_a_volume_removes_its_snapshot_files(make_volume, alice, host, run_tasks):
    volume = make_volume()
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    with run_tasks():
        services.delete_volume(alice, reload(volume))
    assert s1.libvirt_name not in pool_volumes(host)
    assert not Volume.objects.exists() and not Snapshot.objects.exists()
    assert Operation.objects.filter(kind="volume.delete", status="succeeded").exists()
