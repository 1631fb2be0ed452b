"""Whole-chain work on simulated hosts: a volume with snapshots moves layer by layer to another
pool (detached or on a stopped instance; a running one in test_chain_live_move), the
newest point of a running disk merges by active commit + pivot when that copies less, and an
offline merge on a remote host is taken (a paused helper domain does it there: the lab tier)."""

import hypervisor as hv
from storage import chains, services
from storage.models import Snapshot
from storage.tasks import chains as chain_tasks
from tests.storage.conftest import disk_sources, pool_volumes, reload
from tests.storage.test_snapshots import gateway_graph, snap


def moved(alice, run_tasks, volume, pool):
    with run_tasks():
        op = services.migrate_volume(alice, reload(volume), pool)
    op = reload(op)
    assert op.status == "succeeded", op.error
    return op, reload(volume)


def chain_with_two_points(make_volume, alice, run_tasks):
    volume = make_volume()
    snap(alice, run_tasks, volume=volume, name="s1")
    snap(alice, run_tasks, volume=reload(volume), name="s2")
    return reload(volume)


def test_a_detached_volume_moves_with_its_whole_chain(make_volume, alice, host, fast_pool, run_tasks):
    volume = chain_with_two_points(make_volume, alice, run_tasks)
    old_files = set(chains.graph(volume))
    op, volume = moved(alice, run_tasks, volume, fast_pool)
    assert "Moved 3 layers to pool fast" in op.message and op.progress == 100
    assert volume.pool == fast_pool and volume.state == "available"
    graph = chains.graph(volume)
    assert all(path.startswith("/srv/fast/") for path in graph) and len(graph) == 3
    files = {v.path: v.backing_path or "" for v in pool_volumes(host, "fast").values()}
    assert {path: files.get(path, "MISSING") for path in graph} == graph
    assert not old_files & {v.path for v in pool_volumes(host).values()}
    s1, s2 = Snapshot.objects.filter(volume=volume).order_by("created")
    assert s2.parent == s1 and s2.current and s2.layer_backing == s1.layer_path


def test_a_chain_on_a_stopped_instance_moves_and_the_disk_follows(
    make_volume, alice, host, stopped_instance, fast_pool, run_tasks
):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, stopped_instance)
    snap(alice, run_tasks, volume=reload(volume), name="s1")
    _op, volume = moved(alice, run_tasks, volume, fast_pool)
    assert volume.state == "in-use" and disk_sources(host, stopped_instance)["vdb"] == volume.path
    assert volume.path.startswith("/srv/fast/")


def test_the_newest_point_of_a_running_disk_merges_by_active_commit_when_cheaper(
    make_volume, alice, instance, host, run_tasks, monkeypatch
):
    monkeypatch.setattr(chain_tasks, "merge_shape", lambda *args: chain_tasks.COMMIT)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    s1 = snap(alice, run_tasks, volume=reload(volume), name="s1")
    active = reload(volume).libvirt_name
    with run_tasks():
        op = services.delete_snapshot(alice, s1)
    op, volume = reload(op), reload(volume)
    assert op.status == "succeeded" and "active blockCommit + pivot" in op.message, op.error
    # The guest now runs on the snapshot's file; the small active layer is gone.
    assert volume.path == s1.layer_path and volume.libvirt_name == s1.libvirt_name and volume.backing_path == ""
    assert disk_sources(host, instance)["vdb"] == volume.path
    assert active not in pool_volumes(host) and gateway_graph(host, volume) == chains.graph(volume)


def test_the_shape_of_a_merge_follows_the_sizes(make_volume, alice, host, run_tasks, monkeypatch):
    volume = chain_with_two_points(make_volume, alice, run_tasks)
    s2 = Snapshot.objects.get(volume=volume, name="s2")
    sizes = {volume.libvirt_name: 10, s2.libvirt_name: 500}
    monkeypatch.setattr(hv, "volume_info", lambda uri, pool, name: type("I", (), {"allocation_bytes": sizes[name]}))
    assert chain_tasks.merge_shape(host, "default", s2, volume) == chain_tasks.COMMIT
    sizes[volume.libvirt_name] = 900
    assert chain_tasks.merge_shape(host, "default", s2, volume) == chain_tasks.PULL


def test_an_offline_merge_on_a_remote_host_is_queued_not_refused(make_volume, alice, host, run_tasks):
    volume = chain_with_two_points(make_volume, alice, run_tasks)
    s1 = Snapshot.objects.get(volume=volume, name="s1")
    type(host).objects.filter(pk=host.pk).update(uri="qemu+tcp://far.example/system", simulated=False)
    op = services.delete_snapshot(alice, reload(s1))  # the task is not run here: far.example is not there
    assert op.kind == "snapshot.merge" and op.status == "queued", (op.kind, op.status)
    assert reload(s1).state == "deleting" and reload(volume).state == "busy"
