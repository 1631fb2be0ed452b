"""A download streams from the web process while its response lasts, under a lease like an
upload's: if that process dies mid-way the reaper fails the Operation within lease + reaper
round (before: it stayed running for the 30-minute time limit, the volume taking no other
action meanwhile), and a client that goes away, even before the first byte, ends it at once
(before: a response closed unread left it queued for ever, the volume held)."""

from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.utils import timezone

from portal import leases, operations
from portal.models import Operation
from storage import services
from tests.storage.conftest import reload
from tests.storage.test_volume_stream import MIB, no_kept_data, qcow2_body, upload  # noqa: F401 - autouse fixture


@pytest.fixture
def filled(api, make_volume, run_tasks):
    """A volume holding 3 MiB of data (three chunks of a download)."""
    volume = make_volume(size_gb=1)
    assert upload(api["alice"], volume, qcow2_body(size=3 * MIB), run_tasks).status_code == 202
    return reload(volume)


def download(client, volume):
    response = client.get(f"/api/v1/volumes/{volume.pk}/download/")
    assert response.status_code == 200, response.content
    return response, Operation.objects.get(pk=response["X-Operation"])


def close(response):
    """What the server does when a client goes away before reading (the test client's wrapper
    closes only a response it began to read), keeping the test's database connection."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def test_a_download_holds_a_lease_in_the_web_process_while_its_response_lasts(api, filled):
    response, op = download(api["bob"], filled)
    assert op.status == "running" and op.worker.startswith("web@") and op.lease_expires_at is not None
    assert len(b"".join(response.streaming_content)) == 3 * MIB  # read to the end: closed
    op.refresh_from_db()
    assert op.status == "succeeded" and "Downloaded 3 MiB" in op.message
    assert operations.active_on(filled) is None


def test_a_download_whose_web_process_died_is_failed_and_frees_the_volume(alice, filled):
    op, _size, chunks = services.download_volume(alice, filled)  # what the API's response streams
    assert len(next(chunks)) == MIB
    op.refresh_from_db()
    assert op.worker.startswith("web@") and op.lease_expires_at > timezone.now()  # then the process is killed:
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert "Worker lost: web@" in op.error and f"volume {filled.name} is as it was" in op.error
    assert operations.active_on(filled) is None  # it takes actions (another download) again
    assert reload(filled).state == filled.state
    chunks.close()  # (the response closes it) a process that was only stalled, closing late, leaves the reaper's verdict
    op.refresh_from_db()
    assert op.status == "failed" and "Worker lost" in op.error


def test_a_client_gone_before_the_first_byte_leaves_nothing_held(api, filled):
    response, op = download(api["alice"], filled)
    close(response)  # the server closes a response its client never read
    op.refresh_from_db()
    assert op.status == "failed" and "stopped after 0 bytes (the client went away)" in op.error
    assert operations.active_on(filled) is None


def test_a_client_gone_mid_way_fails_the_download_and_frees_the_volume(api, alice, filled):
    op, _size, chunks = services.download_volume(alice, filled)
    next(chunks)
    chunks.close()  # the client went away: the server closes the response, which closes it
    op.refresh_from_db()
    assert op.status == "failed" and f"stopped after {MIB} bytes" in op.error
    assert operations.active_on(filled) is None
    response, again = download(api["alice"], filled)  # and it can be downloaded again
    assert len(b"".join(response.streaming_content)) == 3 * MIB
