"""An upload runs in the web process while its request lasts, under a lease like a task's: if
that process dies mid-way, the reaper fails the Operation within lease + reaper round (it stayed
running for the 30-minute time limit before) and the upload's settle hook removes the half-written
file and makes the volume available again, its data as it was."""

from datetime import timedelta

from django.utils import timezone

import hypervisor as hv
from portal import leases, operations
from portal.models import Operation
from storage.choices import VolumeState
from storage.hosts import volume_host
from storage.models import Volume
from storage.tasks import stream
from tests.storage.conftest import reload
from tests.storage.test_volume_stream import qcow2_body, upload


def test_an_upload_holds_a_lease_in_the_web_process_that_runs_it(api, make_volume, run_tasks):
    volume = make_volume(size_gb=1)
    response = upload(api["alice"], volume, qcow2_body(), run_tasks)
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and op.worker.startswith("web@") and op.lease_expires_at is not None
    assert op.detail[stream.NEW_FILE] == reload(volume).libvirt_name


def test_an_upload_whose_web_process_died_is_failed_and_leaves_the_volume_as_it_was(alice, make_volume):
    volume = make_volume(size_gb=1)
    uri, pool, old_name = volume_host(volume).uri, volume.pool.libvirt_name, volume.libvirt_name
    op = operations.begin("volume.upload", volume, user=alice, project=volume.project, detail={"size": 1 << 20})
    Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
    new_name = f"{volume.base_name}-udead0001"
    Operation.objects.filter(pk=op.pk).update(detail={**op.detail, stream.NEW_FILE: new_name})
    leases.claim(op.pk, worker="web@portal-1/4242")  # the request began streaming, then its process was killed
    hv.volume_create(uri, pool, new_name, 1 << 30, "qcow2")  # the half-written file
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert "Worker lost: web@portal-1/4242" in op.error and f"Volume {volume.name} is unchanged." in op.error
    volume = reload(volume)
    assert volume.state == VolumeState.AVAILABLE and volume.libvirt_name == old_name
    names = {v.name for v in hv.list_volumes(uri, pool)}
    assert old_name in names and new_name not in names
    assert operations.active_on(volume) is None  # it takes actions (another upload) again
