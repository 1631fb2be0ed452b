"""A running disk with external snapshots moves to another pool with its chain (frozen layers
copied, a shallow mirror of the active one, pivot), on simulated hosts; a failed or cancelled
mirror leaves the domain, the database and the pools as they were; internal snapshots are
refused with the reason, a chain on a remote host is taken (moved there by a paused helper
domain when stopped: the lab tier)."""

import pytest

import hypervisor as hv
from portal.errors import Conflict
from portal.models import Operation
from storage import chains, services
from storage.models import Snapshot
from tests.storage.conftest import disk_sources, pool_volumes, reload
from tests.storage.test_snapshots import snap


def attached_chain(make_volume, alice, instance, run_tasks, points=("s1", "s2")):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    for name in points:
        snap(alice, run_tasks, volume=reload(volume), name=name)
    return reload(volume)


def move(alice, run_tasks, volume, pool):
    with run_tasks():
        op = services.migrate_volume(alice, reload(volume), pool)
    return reload(op), reload(volume)


def fast_graph(host, volume):
    """{path: backing} as the target pool reports it, for every file the database names."""
    files = {v.path: v.backing_path or "" for v in pool_volumes(host, "fast").values()}
    return {path: files.get(path, "MISSING") for path in chains.graph(volume)}


def test_a_running_disk_moves_with_its_chain_and_the_guest_pivots(
    make_volume, alice, instance, host, fast_pool, run_tasks
):
    volume = attached_chain(make_volume, alice, instance, run_tasks)
    old_files = set(chains.graph(volume))
    op, volume = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "succeeded", op.error
    assert "Moved 3 layers to pool fast" in op.message and "shallow blockCopy" in op.message
    assert op.progress == 100 and op.detail["live"] is True
    assert volume.pool == fast_pool and volume.state == "in-use"
    graph = chains.graph(volume)
    assert len(graph) == 3 and all(path.startswith("/srv/fast/") for path in graph)
    assert fast_graph(host, volume) == graph
    assert disk_sources(host, instance)["vdb"] == volume.path
    assert not old_files & {v.path for v in pool_volumes(host).values()}
    s1, s2 = Snapshot.objects.filter(volume=volume).order_by("created")
    assert s2.parent == s1 and s2.current and volume.backing_path == s2.layer_path and s1.layer_backing == ""


def test_a_branch_left_by_a_revert_moves_too(make_volume, alice, instance, host, fast_pool, run_tasks):
    volume = make_volume()
    s1 = snap(alice, run_tasks, volume=volume, name="s1")
    snap(alice, run_tasks, volume=reload(volume), name="s2")
    with run_tasks():
        services.revert_snapshot(alice, reload(s1))
    with run_tasks():
        services.attach_volume(alice, reload(volume), instance)
    volume = reload(volume)
    assert len(chains.children(volume, reload(s1).layer_path)) == 2  # s2's file and the active one
    op, volume = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "succeeded", op.error
    assert fast_graph(host, volume) == chains.graph(volume) and len(chains.graph(volume)) == 3
    assert disk_sources(host, instance)["vdb"] == volume.path


def assert_nothing_moved(host, instance, volume, before):
    volume = reload(volume)
    assert volume.pool.name == "host-a-default" and volume.state == "in-use"
    assert chains.graph(volume) == before
    assert disk_sources(host, instance)["vdb"] == volume.path
    assert not pool_volumes(host, "fast")
    assert set(before) <= {v.path for v in pool_volumes(host).values()}
    assert hv.block_job(host.uri, str(instance.uuid), "vdb") is None


def test_a_failed_mirror_removes_the_copies_and_keeps_the_old_chain(
    make_volume, alice, instance, host, fast_pool, run_tasks, monkeypatch
):
    volume = attached_chain(make_volume, alice, instance, run_tasks)
    before = chains.graph(volume)

    def failing_pivot(uri, uuid, dev, *, pivot=False):
        raise hv.OperationFailed("pivot refused", uri=uri)

    real_abort = hv.block_job_abort
    monkeypatch.setattr(
        hv,
        "block_job_abort",
        lambda uri, uuid, dev, *, pivot=False: (failing_pivot if pivot else real_abort)(uri, uuid, dev),
    )
    op, _ = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "failed" and "pivot refused" in op.message
    assert_nothing_moved(host, instance, volume, before)


def test_a_mirror_that_ends_without_a_pivot_is_a_failure(
    make_volume, alice, instance, host, fast_pool, run_tasks, monkeypatch
):
    volume = attached_chain(make_volume, alice, instance, run_tasks)
    before = chains.graph(volume)
    monkeypatch.setattr(hv, "block_copy", lambda *args, **kwargs: None)  # QEMU dropped the job at once
    op, _ = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "failed" and "ended without a pivot" in op.message
    assert_nothing_moved(host, instance, volume, before)


def cancel_on_call(monkeypatch, name):
    """The user asks to cancel the move as the gateway's `name` is called; returns the real one."""
    real = getattr(hv, name)

    def cancel_then_call(*args, **kwargs):
        Operation.objects.filter(kind="volume.migrate").update(cancel_requested=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(hv, name, cancel_then_call)
    return real


def test_a_cancelled_mirror_is_aborted_and_the_copies_go(
    make_volume, alice, instance, host, fast_pool, run_tasks, monkeypatch
):
    volume = attached_chain(make_volume, alice, instance, run_tasks)
    before = chains.graph(volume)
    real_job = cancel_on_call(monkeypatch, "block_job")
    op, _ = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "cancelled", (op.status, op.message)
    monkeypatch.setattr(hv, "block_job", real_job)
    assert_nothing_moved(host, instance, volume, before)


def test_a_cancel_while_frozen_layers_copy_stops_before_the_mirror(
    make_volume, alice, instance, host, fast_pool, run_tasks, monkeypatch
):
    volume = attached_chain(make_volume, alice, instance, run_tasks)
    before = chains.graph(volume)
    cancel_on_call(monkeypatch, "volume_create")
    started = []
    monkeypatch.setattr(hv, "block_copy", lambda *args, **kwargs: started.append(args))
    op, _ = move(alice, run_tasks, volume, fast_pool)
    assert op.status == "cancelled" and not started
    assert_nothing_moved(host, instance, volume, before)


def test_internal_snapshots_of_the_instance_refuse_the_move_and_say_why(
    make_volume, alice, instance, fast_pool, run_tasks
):
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    snap(alice, run_tasks, instance=instance, name="before-upgrade")
    with pytest.raises(Conflict, match="internal snapshots, kept inside the qcow2 file.*would be lost"):
        services.migrate_volume(alice, reload(volume), fast_pool)
    assert reload(volume).pool != fast_pool and reload(volume).state == "in-use"


def test_a_chain_on_a_remote_host_is_queued_not_refused(make_volume, alice, instance, host, fast_pool, run_tasks):
    volume = attached_chain(make_volume, alice, instance, run_tasks, points=("s1",))
    type(host).objects.filter(pk=host.pk).update(uri="qemu+tcp://far.example/system", simulated=False)
    op = services.migrate_volume(alice, reload(volume), fast_pool)  # not run: far.example is not there
    assert op.kind == "volume.migrate" and op.status == "queued", (op.kind, op.status)
