"""Volume data in and out of a remote host, streamed through the portal with no copy on its
disk: with host A out of the way (maintenance in the database), volumes in nubes-shared are
managed through host B (qemu+tcp://10.99.0.2/system). An 8 MiB qcow2 body goes up with the
request into a new file on B that replaces the old one, comes back byte for byte; an upload cut
off mid-way leaves the volume and B's pool as they were."""

import subprocess

import pytest

import hypervisor as hv
from compute.models import Host
from portal.errors import ActionError
from portal.models import Operation
from storage import services
from storage.hosts import volume_host
from storage.models import Volume
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_storage_lab import SHARED, api, make_volume, pools  # noqa: F401 - fixtures
from tests.storage.test_volume_stream import CutOff

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1 << 20


def names_on(uri, volume):
    hv.pool_refresh(uri, SHARED)
    return sorted(v.name for v in hv.list_volumes(uri, SHARED) if volume.base_name in v.name)


def test_a_volume_streams_up_and_down_through_host_b_and_a_cut_off_upload_changes_nothing(
    api,
    alice,
    pools,
    host_a,
    host_b,
    project_a,
    tmp_path,
    settings,  # noqa: F811
):
    settings.DATA_DIR = tmp_path
    Host.objects.filter(pk=host_a.pk).update(state="maintenance")  # volumes go through B
    volume = make_volume(api, project_a, pools[SHARED], "it-remote-up")
    try:
        assert volume_host(volume).pk == host_b.pk
        source = tmp_path / "body.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "64M"], check=True)
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 8M", str(source)], check=True, capture_output=True
        )
        body = source.read_bytes()
        source.unlink()
        old_name = volume.libvirt_name
        op = succeeded(
            api.put(f"/api/v1/volumes/{volume.pk}/upload/", data=body, content_type="application/octet-stream")
        )
        assert "(simulated)" not in op.message and op.progress == 100, op.message
        volume.refresh_from_db()
        assert names_on(host_b.uri, volume) == [volume.libvirt_name] and volume.libvirt_name != old_name
        assert list(tmp_path.iterdir()) == []  # nothing spooled on the portal's disk

        response = api.get(f"/api/v1/volumes/{volume.pk}/download/")
        assert response.status_code == 200
        data = b"".join(response.streaming_content)
        assert data[: len(body)] == body and len(data) == int(response["Content-Length"])
        assert Operation.objects.get(pk=response["X-Operation"]).status == "succeeded"

        before = names_on(host_b.uri, volume)
        with pytest.raises(ActionError, match="cut off"):
            services.upload_volume(alice, volume, CutOff(body, 2 * MIB), len(body))
        assert names_on(host_b.uri, volume) == before
        assert Volume.objects.get(pk=volume.pk).libvirt_name == volume.libvirt_name
    finally:
        Host.objects.filter(pk=host_a.pk).update(state="up")
        succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    assert names_on(host_b.uri, volume) == []
