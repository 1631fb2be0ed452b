"""A volume move whose worker died mid-copy: the reaper fails it within lease + reaper round and
its settle hook removes the partial copy from the target pool and gives the volume back its
state (it stayed busy for ever before, holding the copy's space). Simulated host (test driver)."""

from datetime import timedelta

from django.utils import timezone

import hypervisor as hv
from portal import leases, operations
from portal.models import Operation
from storage import services
from storage.choices import VolumeState
from storage.tasks import volumes as volume_tasks
from tests.storage.conftest import reload


def test_a_move_whose_worker_died_is_failed_and_leaves_the_volume_where_it_was(make_volume, alice, host, fast_pool):
    volume = make_volume()
    op = services.migrate_volume(alice, reload(volume), fast_pool)  # queued; its worker then dies mid-copy
    copy = f"{volume.base_name}-moved"
    Operation.objects.filter(pk=op.pk).update(detail={**op.detail, volume_tasks.NEW_LAYER: copy})
    leases.claim(op.pk, worker="nubes-hosta@w1/4242")
    hv.volume_create(host.uri, fast_pool.libvirt_name, copy, 1 << 30, "qcow2")  # the partial copy
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert "Worker lost: nubes-hosta@w1/4242" in op.error and "The partial copy was removed." in op.error
    moved = reload(volume)
    assert moved.state == VolumeState.AVAILABLE and moved.pool_id == volume.pool_id
    assert moved.libvirt_name == volume.libvirt_name
    assert copy not in {v.name for v in hv.list_volumes(host.uri, fast_pool.libvirt_name)}
    assert volume.libvirt_name in {v.name for v in hv.list_volumes(host.uri, volume.pool.libvirt_name)}
    assert operations.active_on(moved) is None  # it takes actions again
