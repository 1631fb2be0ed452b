"""External instance snapshots on a simulated host: every disk frozen at once behind a new overlay,
listed in the instance's tree, reverted on a stopped instance with fresh overlays, deleted with a
merge; compute finds the root disk's active file through compute.hooks; what cannot be done while
the chain exists is refused with a 409."""

import pytest

import hypervisor as hv
from compute import hooks
from compute.models import Flavor, Instance
from compute.services import instances as compute_services
from portal.errors import Conflict
from portal.models import Operation
from storage import services
from storage.models import RootDisk, Snapshot, SnapshotLayer
from tests.storage.conftest import GIB, disk_sources, pool_volumes, reload


@pytest.fixture
def with_root(host):
    def make(instance):
        hv.volume_create(host.uri, "default", instance.root_volume, 10 * GIB)
        return instance

    return make


def snap(user, run_tasks, instance, name, expect="succeeded"):
    with run_tasks():
        snapshot, op = services.create_snapshot(user, instance=instance, name=name, kind="external")
    op = reload(op)
    assert op.status == expect, op.error
    return reload(snapshot), op


def chain_of(host, path):
    """[path, backing, ...] as the pool says, following backing files."""
    files = {v.path: v.backing_path or "" for v in pool_volumes(host).values()}
    chain = []
    while path:
        chain.append(path)
        path = files.get(path, "MISSING") if path != "MISSING" else ""
    return chain


def db_chain(instance):
    root = RootDisk.objects.get(instance=instance)
    layers = {
        layer.layer_path: layer.layer_backing
        for layer in SnapshotLayer.objects.filter(snapshot__instance=instance, volume__isnull=True)
    }
    chain, path = [root.path], root.backing_path
    while path:
        chain.append(path)
        path = layers.get(path, "")
    return chain


def test_it_freezes_the_root_and_attached_disks_at_once(alice, instance, with_root, make_volume, host, run_tasks):
    with_root(instance)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1, op = snap(alice, run_tasks, instance, "s1")
    assert s1.kind == "external" and s1.current and s1.simulated
    assert "not quiesced" in op.message and "2 disk(s)" in op.message
    assert sorted(s1.layers.values_list("target_dev", flat=True)) == ["vda", "vdb"]
    root = RootDisk.objects.get(instance=instance)
    sources = disk_sources(host, instance)
    assert sources["vda"] == root.path != f"/var/lib/libvirt/images/{instance.root_volume}"
    assert sources["vdb"] == reload(volume).path
    assert chain_of(host, root.path) == db_chain(instance)
    assert hooks.root_disk_path(instance, "fixed") == root.path


def test_it_says_when_a_stopped_instance_is_not_quiesced(alice, stopped_instance, with_root, run_tasks):
    _s, op = snap(alice, run_tasks, with_root(stopped_instance), "s1")
    assert "not quiesced" in op.message


def test_the_tree_lists_parent_and_current(alice, instance, with_root, run_tasks, client):
    with_root(instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    s2, _ = snap(alice, run_tasks, instance, "s2")
    assert reload(s2).parent == s1 and reload(s2).current and not reload(s1).current
    client.force_login(alice)
    listed = client.get(f"/api/v1/snapshots/?instance={instance.pk}").json()
    rows = {row["name"]: row for row in listed.get("results", listed)}
    assert rows["s2"]["parent"] == s1.pk and rows["s1"]["children"] == [s2.pk]
    page = client.get(f"/storage/instances/{instance.pk}/snapshots/")
    assert b"s2" in page.content and b"external" in page.content


def test_revert_needs_a_stopped_instance(alice, instance, with_root, run_tasks):
    s1, _ = snap(alice, run_tasks, with_root(instance), "s1")
    with pytest.raises(Conflict, match="stop the instance"):
        services.revert_snapshot(alice, s1)


def test_revert_puts_fresh_overlays_on_the_point_for_every_disk(
    alice, stopped_instance, with_root, make_volume, host, run_tasks
):
    instance = with_root(stopped_instance)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    snap(alice, run_tasks, instance, "s2")
    before = RootDisk.objects.get(instance=instance).libvirt_name
    with run_tasks():
        op = services.revert_snapshot(alice, s1)
    assert reload(op).status == "succeeded", reload(op).error
    root = RootDisk.objects.get(instance=instance)
    assert root.backing_path == s1.layers.get(target_dev="vda").layer_path
    assert reload(volume).backing_path == s1.layers.get(target_dev="vdb").layer_path
    assert before not in pool_volumes(host)  # the abandoned active file is gone
    assert disk_sources(host, instance)["vda"] == root.path
    assert reload(s1).current
    assert chain_of(host, root.path) == db_chain(instance)


@pytest.mark.parametrize("running", [True, False])
def test_delete_merges_every_disk_and_keeps_the_chain(
    alice, project_a, host, flavor, image, make_volume, run_tasks, running
):
    from tests.storage.conftest import make_instance

    instance = make_instance(project_a, host, flavor, image, state="active" if running else "shutoff")
    hv.volume_create(host.uri, "default", instance.root_volume, 10 * GIB)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    s2, _ = snap(alice, run_tasks, instance, "s2")
    snap(alice, run_tasks, instance, "s3")
    with run_tasks():
        op = services.delete_snapshot(alice, reload(s2))
    assert reload(op).status == "succeeded", reload(op).error
    assert not Snapshot.objects.filter(pk=s2.pk).exists()
    assert Snapshot.objects.get(name="s3").parent == reload(s1)
    root = RootDisk.objects.get(instance=instance)
    assert chain_of(host, root.path) == db_chain(instance)
    assert len(db_chain(instance)) == 3
    assert disk_sources(host, instance)["vda"] == root.path
    with run_tasks():
        services.delete_snapshot(alice, reload(s1))
    assert chain_of(host, RootDisk.objects.get(instance=instance).path) == db_chain(instance)


def test_branches_after_a_revert_are_refused(alice, stopped_instance, with_root, run_tasks):
    instance = with_root(stopped_instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    snap(alice, run_tasks, instance, "s2")
    with run_tasks():
        services.revert_snapshot(alice, reload(s1))
    with pytest.raises(Conflict, match="branches"):
        services.delete_snapshot(alice, reload(s1))


def test_what_the_chain_forbids_is_refused(alice, instance, with_root, make_volume, run_tasks):
    with_root(instance)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    snap(alice, run_tasks, instance, "s1")
    with pytest.raises(Conflict, match="part of external snapshots"):
        services.create_snapshot(alice, volume=reload(volume), name="v1")
    with pytest.raises(Conflict, match="part of external snapshots"):
        services.detach_volume(alice, reload(volume))
    with pytest.raises(Conflict, match="rebuild"):
        compute_services.rebuild(alice, reload(instance), instance.image)
    with pytest.raises(Conflict, match="does not mix"):
        services.create_snapshot(alice, instance=instance, name="i1", kind="internal")
    bigger = Flavor.objects.create(name="bigger", vcpus=1, ram_mb=512, disk_gb=20)
    with pytest.raises(Conflict, match="grow the root disk"):
        compute_services.resize(alice, Instance.objects.get(pk=instance.pk), bigger)


def test_deleting_the_instance_removes_the_whole_root_chain(alice, stopped_instance, with_root, host, run_tasks):
    instance = with_root(stopped_instance)
    snap(alice, run_tasks, instance, "s1")
    snap(alice, run_tasks, instance, "s2")
    names = [name for _pool, name in hooks.root_disk_files(instance, ())]
    assert len(names) == 3 and all(name in pool_volumes(host) for name in names)
    with run_tasks():
        op = compute_services.delete(alice, Instance.objects.get(pk=instance.pk))
    assert reload(op).status == "succeeded", reload(op).error
    assert not any(name in pool_volumes(host) for name in names)
    assert Operation.objects.filter(kind="instance.delete").exists()


def test_an_attached_volume_keeps_its_frozen_files_as_its_own_snapshots(
    alice, stopped_instance, with_root, make_volume, host, run_tasks
):
    instance = with_root(stopped_instance)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    snap(alice, run_tasks, instance, "s1")
    with run_tasks():
        compute_services.delete(alice, Instance.objects.get(pk=instance.pk))
    volume = reload(volume)
    kept = Snapshot.objects.get(volume=volume)
    assert volume.instance is None and kept.current and volume.backing_path == kept.layer_path
    assert not Snapshot.objects.filter(instance=instance).exists()
    with run_tasks():
        op = services.delete_snapshot(alice, kept)
    assert reload(op).status == "succeeded", reload(op).error
    assert reload(volume).backing_path == ""


def test_the_page_takes_an_external_snapshot(alice, instance, with_root, run_tasks, client):
    with_root(instance)
    client.force_login(alice)
    with run_tasks():
        client.post(f"/storage/instances/{instance.pk}/snapshots/", {"name": "ui1", "kind": "external"})
    taken = Snapshot.objects.get(instance=instance, name="ui1")
    assert taken.kind == "external" and taken.state == "available"
    page = client.get(f"/storage/instances/{instance.pk}/snapshots/")
    assert b"not quiesced" in page.content


def test_it_quiesces_only_when_the_domain_has_a_guest_agent_channel(monkeypatch, instance):
    from unittest import mock

    from storage.tasks import instance_snapshots as tasks

    instance.host.simulated = False  # the decision real hosts take; the gateway is patched
    freeze = mock.create_autospec(hv.disks_snapshot_external, return_value=hv.DiskChange(simulated=False, live=True))
    channel = mock.create_autospec(hv.domain_has_guest_agent, return_value=False)
    monkeypatch.setattr(hv, "disks_snapshot_external", freeze)
    monkeypatch.setattr(hv, "domain_has_guest_agent", channel)
    _change, note = tasks._freeze(instance, {"vda": "/var/lib/libvirt/images/r-l1"})
    assert note == tasks.NOT_QUIESCED_NO_CHANNEL and "quiesce" not in freeze.call_args.kwargs
    channel.return_value = True
    _change, note = tasks._freeze(instance, {"vda": "/var/lib/libvirt/images/r-l1"})
    assert note == "quiesced through the guest agent" and freeze.call_args.kwargs == {"quiesce": True}
    freeze.side_effect = [
        hv.GuestAgentUnavailable("Guest agent is not responding", uri=instance.host.uri),
        hv.DiskChange(simulated=False, live=True),
    ]
    _change, note = tasks._freeze(instance, {"vda": "/var/lib/libvirt/images/r-l1"})
    assert note.startswith("not quiesced: the guest agent did not answer")


def test_the_api_lists_each_disks_frozen_file(alice, admin_user, instance, with_root, run_tasks, client):
    s1, _ = snap(alice, run_tasks, with_root(instance), "s1")
    client.force_login(alice)
    row = client.get(f"/api/v1/snapshots/{s1.pk}/").json()
    assert [layer["target_dev"] for layer in row["layers"]] == ["vda"]
    assert "layer_path" not in row["layers"][0]  # host paths are for cloud admins (issue 18)
    client.force_login(admin_user)
    row = client.get(f"/api/v1/snapshots/{s1.pk}/").json()
    assert row["layers"][0]["layer_path"] == f"/var/lib/libvirt/images/{instance.root_volume}"


def test_compute_redefines_the_domain_on_the_chains_active_file(alice, stopped_instance, with_root, host, run_tasks):
    instance = with_root(stopped_instance)
    snap(alice, run_tasks, instance, "s1")
    with run_tasks():
        op = compute_services.rename(alice, Instance.objects.get(pk=instance.pk), "renamed")
    assert reload(op).status == "succeeded", reload(op).error
    assert disk_sources(host, instance)["vda"] == RootDisk.objects.get(instance=instance).path


def test_a_copy_storage_migration_of_the_chain_is_refused(alice, instance, with_root, host_b, run_tasks, monkeypatch):
    from compute.services import migration

    # Only the storage pre-check is under test: the simulated hosts' CPUs and room are not.
    monkeypatch.setattr(migration, "check_cpu", lambda instance, target: None)
    monkeypatch.setattr(migration, "check_up_with_room", lambda instance, target: None)
    snap(alice, run_tasks, with_root(instance), "s1")
    with pytest.raises(Conflict, match="copy-storage"):
        migration.check_target(Instance.objects.get(pk=instance.pk), host_b, {"copy_storage": True})


def test_a_rebuild_after_the_snapshots_are_gone_starts_a_fresh_root_disk(
    alice, stopped_instance, with_root, host, run_tasks
):
    instance = with_root(stopped_instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    with run_tasks():
        services.delete_snapshot(alice, reload(s1))
    chain_file = RootDisk.objects.get(instance=instance).libvirt_name
    assert chain_file != instance.root_volume  # the overlay took the base's data over
    with run_tasks():
        op = compute_services.rebuild(alice, Instance.objects.get(pk=instance.pk), instance.image)
    assert reload(op).status == "succeeded", reload(op).error
    assert not RootDisk.objects.filter(instance=instance).exists()
    assert chain_file not in pool_volumes(host) and instance.root_volume in pool_volumes(host)
    assert disk_sources(host, instance)["vda"] == pool_volumes(host)[instance.root_volume].path


def test_a_merge_failing_on_one_disk_leaves_a_point_a_retry_finishes(
    alice, stopped_instance, with_root, make_volume, host, run_tasks, monkeypatch
):
    from storage.tasks import instance_snapshots as tasks

    instance = with_root(stopped_instance)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1, _ = snap(alice, run_tasks, instance, "s1")
    real = tasks._merge_layer

    def fail_on_vdb(op, instance, layer, *args):
        if layer.target_dev == "vdb":
            raise hv.OperationFailed("the host went away", uri=host.uri)
        return real(op, instance, layer, *args)

    monkeypatch.setattr(tasks, "_merge_layer", fail_on_vdb)
    with run_tasks():
        op = services.delete_snapshot(alice, reload(s1))
    assert reload(op).status == "failed"
    assert list(reload(s1).layers.values_list("target_dev", flat=True)) == ["vdb"]
    assert reload(s1).state == "available" and reload(volume).state == "in-use"
    assert chain_of(host, RootDisk.objects.get(instance=instance).path) == db_chain(instance)
    monkeypatch.setattr(tasks, "_merge_layer", real)
    with run_tasks():
        op = services.delete_snapshot(alice, reload(s1))
    assert reload(op).status == "succeeded", reload(op).error
    assert not Snapshot.objects.filter(pk=s1.pk).exists() and reload(volume).backing_path == ""
