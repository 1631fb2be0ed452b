"""Volume upload (PUT raw body) and download (streamed GET) through the API, with progress on
the Operation, on simulated hosts; the rules that keep a disk consistent."""

import io

import pytest

import hypervisor as hv
from portal import operations
from portal.errors import ActionError
from portal.models import Operation
from storage import services
from storage.choices import UPLOAD_CHUNK
from storage.hosts import volume_host
from tests.storage.conftest import GIB, reload

MIB = 1 << 20


@pytest.fixture(autouse=True)
def no_kept_data(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    hv.forget_simulated_data()
    yield
    hv.forget_simulated_data()


def qcow2_body(virtual=GIB, size=3 * MIB):
    header = b"QFI\xfb" + bytes(20) + virtual.to_bytes(8, "big")
    return header + bytes(range(256)) * ((size - len(header)) // 256) + b"x" * ((size - len(header)) % 256)


def upload(client, volume, body, run_tasks):
    with run_tasks():
        return client.put(f"/api/v1/volumes/{volume.pk}/upload/", data=body, content_type="application/octet-stream")


def test_an_uploaded_volume_downloads_the_same_bytes_with_progress_both_ways(
    api, make_volume, run_tasks, tmp_path, monkeypatch
):
    seen = []
    real_progress = operations.progress
    monkeypatch.setattr(
        operations, "progress", lambda op, pct, msg="": (seen.append((op.kind, pct)), real_progress(op, pct, msg))[1]
    )
    volume, body = make_volume(size_gb=1), qcow2_body()
    old_name = volume.libvirt_name
    response = upload(api["alice"], volume, body, run_tasks)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and op.progress == 100 and "Uploaded 3 MiB" in op.message, op.error
    assert reload(volume).state == "available"
    assert list(tmp_path.iterdir()) == []  # nothing was spooled on the portal's disk
    assert reload(volume).libvirt_name != old_name  # a new file took the old one's place
    assert [v.name for v in hv.list_volumes(volume_host(volume).uri, "default") if volume.base_name in v.name] == [
        reload(volume).libvirt_name
    ]

    response = api["bob"].get(f"/api/v1/volumes/{volume.pk}/download/")  # readers may read
    assert response.status_code == 200 and response["Content-Length"] == str(len(body))
    assert b"".join(response.streaming_content) == body
    op = Operation.objects.get(pk=response["X-Operation"])
    assert op.kind == "volume.download" and op.status == "succeeded" and op.progress == 100
    upload_steps = [pct for kind, pct in seen if kind == "volume.upload"]
    download_steps = [pct for kind, pct in seen if kind == "volume.download"]
    # one step per chunk that moves the percentage on by PROGRESS_STEP (5): 256 KiB upload chunks,
    # 1 MiB download chunks, of 3 MiB
    sent = range(UPLOAD_CHUNK, len(body), UPLOAD_CHUNK)
    assert upload_steps == [100 * n // len(body) for n in sent] and download_steps == [33, 66]


def test_a_body_that_is_not_qcow2_is_refused_and_nothing_changes(api, make_volume, run_tasks):
    volume = make_volume(size_gb=1)
    response = upload(api["alice"], volume, b"not an image" * 100, run_tasks)
    assert response.status_code == 400 and "upload a qcow2 file" in str(response.json())
    assert reload(volume).state == "available" and not Operation.objects.filter(kind="volume.upload").exists()


def test_a_qcow2_larger_than_the_volume_is_refused(api, make_volume, run_tasks):
    volume = make_volume(size_gb=1)
    response = upload(api["alice"], volume, qcow2_body(virtual=2 * GIB), run_tasks)
    assert response.status_code == 400 and "holds" in str(response.json())


def test_readers_cannot_upload(api, make_volume, run_tasks):
    assert upload(api["bob"], make_volume(size_gb=1), qcow2_body(), run_tasks).status_code == 403


def test_an_attached_volume_takes_no_upload_and_a_running_one_gives_no_download(
    api, alice, make_volume, instance, run_tasks
):
    volume = make_volume(size_gb=1)
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    assert upload(api["alice"], reload(volume), qcow2_body(), run_tasks).status_code == 409
    response = api["alice"].get(f"/api/v1/volumes/{volume.pk}/download/")
    assert response.status_code == 409 and "stop the instance or detach" in str(response.json())


def test_an_overlay_is_not_downloaded_as_if_it_were_the_whole_disk(api, alice, make_volume, run_tasks):
    volume = make_volume(size_gb=1)
    with run_tasks():
        services.create_snapshot(alice, name="s1", volume=volume)
    response = api["alice"].get(f"/api/v1/volumes/{volume.pk}/download/")
    assert response.status_code == 409 and "an overlay" in str(response.json())


def test_a_volume_is_not_replaced_by_put(api, make_volume):
    volume = make_volume(size_gb=1)
    response = api["alice"].put(f"/api/v1/volumes/{volume.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 405 and reload(volume).name == volume.name


class CutOff(io.RawIOBase):
    """A request body whose connection breaks after ``after`` bytes."""

    def __init__(self, data, after):
        self.data, self.after, self.pos = data, after, 0

    def read(self, n=-1):
        if self.pos >= self.after:
            raise ConnectionResetError("the client went away")
        chunk = self.data[self.pos : min(self.pos + n, self.after)]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("body_of", [lambda b: io.BytesIO(b[: len(b) // 2]), lambda b: CutOff(b, 2 * MIB)])
def test_an_upload_cut_off_mid_way_leaves_the_volume_as_it_was_and_no_half_written_file(
    alice, make_volume, body_of, tmp_path
):
    volume, body = make_volume(size_gb=1), qcow2_body()
    old_name = volume.libvirt_name
    before = [v.name for v in hv.list_volumes(volume_host(volume).uri, "default")]
    with pytest.raises(ActionError, match="cut off") as err:
        services.upload_volume(alice, volume, body_of(body), len(body))
    assert err.value.field == "body"
    op = Operation.objects.get(kind="volume.upload")
    assert op.status == "failed" and "unchanged" in op.error
    assert reload(volume).state == "available" and reload(volume).libvirt_name == old_name
    assert [v.name for v in hv.list_volumes(volume_host(volume).uri, "default")] == before
    assert list(tmp_path.iterdir()) == []
