"""Property: after any sequence of snapshot create / revert / delete, the chain the database
records is exactly what the (simulated) host reports — the overlay files' backing paths for
volume snapshots, libvirt's snapshot tree and current snapshot for instance snapshots."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hypervisor as hv
from portal.errors import ActionError
from portal.models import Quota
from storage import chains, services
from storage.models import Snapshot
from tests.storage.conftest import make_instance, pool_volumes, reload

STEPS = st.lists(st.tuples(st.sampled_from(["create", "revert", "delete"]), st.integers(0, 7)), min_size=1, max_size=10)
EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()


def apply(user, run_tasks, step, owner_kwargs, snapshots):
    action, index = step
    try:
        with run_tasks():
            if action == "create" or not snapshots:
                services.create_snapshot(user, name=f"s{next(_names)}", **owner_kwargs())
            elif action == "revert":
                services.revert_snapshot(user, snapshots[index % len(snapshots)])
            else:
                services.delete_snapshot(user, snapshots[index % len(snapshots)])
    except ActionError:
        pass  # a refused step (e.g. a point with two branches) must change nothing


def unlimited(project):
    Quota.objects.filter(project=project).update(limit=10**9)


@EXAMPLES
@given(steps=STEPS)
def test_volume_chain_in_the_database_matches_the_pool(steps, make_volume, alice, host, project_a, run_tasks):
    unlimited(project_a)
    volume = make_volume(name=f"v{next(_names)}")
    for step in steps:
        apply(
            alice,
            run_tasks,
            step,
            lambda volume=volume: {"volume": reload(volume)},
            list(Snapshot.objects.filter(volume=volume)),
        )
        volume = reload(volume)
        files = {v.path: v.backing_path or "" for v in pool_volumes(host).values()}
        db = chains.graph(volume)
        assert {path: files.get(path) for path in db} == db
        assert volume.state == "available"
        snaps = list(Snapshot.objects.filter(volume=volume))
        assert all(s.state == "available" for s in snaps)
        assert sum(s.current for s in snaps) == (
            1 if snaps and volume.backing_path in {s.layer_path for s in snaps} else 0
        )


@EXAMPLES
@given(steps=STEPS)
def test_instance_snapshot_tree_in_the_database_matches_libvirt(
    steps, alice, project_a, host, flavor, image, run_tasks
):
    unlimited(project_a)
    instance = make_instance(project_a, host, flavor, image, name=f"i{next(_names)}")
    for step in steps:
        apply(alice, run_tasks, step, lambda: {"instance": instance}, list(Snapshot.objects.filter(instance=instance)))
        listed = hv.snapshot_list(host.uri, str(instance.uuid))
        libvirt_tree = {s.name: (s.parent, s.current) for s in listed}
        ours = {
            s.libvirt_name: (s.parent.libvirt_name if s.parent else None, s.current)
            for s in Snapshot.objects.filter(instance=instance).select_related("parent")
        }
        assert ours == libvirt_tree


@EXAMPLES
@given(steps=STEPS, running=st.booleans())
def test_external_instance_chains_in_the_database_match_the_pool(
    steps, running, alice, project_a, host, flavor, image, make_volume, run_tasks
):
    """Both disks of an instance (root and an attached volume), frozen together: after every step
    each disk's files have exactly the backing files the database says. Reverts of a running
    instance are refused (409) like branches, changing nothing."""
    from storage.models import RootDisk, SnapshotLayer

    unlimited(project_a)
    instance = make_instance(
        project_a, host, flavor, image, name=f"x{next(_names)}", state="active" if running else "shutoff"
    )
    hv.volume_create(host.uri, "default", instance.root_volume, 10 * 1024**3)
    volume = make_volume(name=f"xv{next(_names)}")
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    for step in steps:
        apply(
            alice,
            run_tasks,
            step,
            lambda: {"instance": instance, "kind": "external"},
            list(Snapshot.objects.filter(instance=instance)),
        )
        files = {v.path: v.backing_path or "" for v in pool_volumes(host).values()}
        root, volume = RootDisk.objects.filter(instance=instance).first(), reload(volume)
        layers = SnapshotLayer.objects.filter(snapshot__instance=instance)
        db = {layer.layer_path: layer.layer_backing for layer in layers}
        db[volume.path] = volume.backing_path
        if root is not None:
            db[root.path] = root.backing_path
        assert {path: files.get(path) for path in db} == db
        assert volume.state == "in-use"
        snaps = list(Snapshot.objects.filter(instance=instance))
        assert all(s.state == "available" for s in snaps)
        assert sum(s.current for s in snaps) <= 1
