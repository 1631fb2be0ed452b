"""A volume download on the fleet whose uvicorn worker is SIGKILLed mid-way, and one whose client
goes away mid-way (issue "Faults and load on the fleet"). A download streams from host storage
through the web process under a lease that process holds (storage.tasks.stream.Download); the
client reads slowly so the response lasts seconds. Each ends with tests/fleet/checks.assert_settled."""

import os
import signal
import time

import pytest
import requests

from tests.fleet import checks
from tests.fleet.test_faults import CLAIM_TIMEOUT_S, reaped_web_worker
from tests.fleet.test_fleet import one

MIB = 1 << 20
READ_FIRST_MIB = 8  # read before the fault; the rest of the 1 GiB volume is still to come


@pytest.fixture
def volume(admin, tenant):
    project, _quota_before = tenant
    pool = one(admin.items("storage-pools/?page_size=100"), checks.SHARED_POOL)
    body = {"project": project["id"], "name": "download-victim", "pool": pool["id"], "size_gb": 1, "format": "raw"}
    return admin.get(f"volumes/{admin.succeeded(admin.action('POST', 'volumes/', json=body))['target_id']}/")


def start_download(admin, fleet_db, volume):
    """A download's response with READ_FIRST_MIB read, its Operation running in a web worker
    with progress recorded; (response, op id, worker)."""
    response = admin.call("GET", f"volumes/{volume['id']}/download/", expect=200, stream=True)
    assert int(response.headers["Content-Length"]) == 1 << 30
    chunks = response.iter_content(MIB)
    for _ in range(READ_FIRST_MIB):
        assert len(next(chunks)) == MIB
    op_id = int(response.headers["X-Operation"])
    status, worker = fleet_db.execute("SELECT status, worker FROM portal_operation WHERE id = %s", [op_id]).fetchone()
    assert status == "running" and worker.startswith("web@"), (status, worker)
    return response, op_id, worker


def usable_again(admin, volume):
    """The volume available, free for actions: a new download of it reads all of its 1 GiB."""
    after = admin.get(f"volumes/{volume['id']}/")
    assert after["state"] == "available", after
    response = admin.call("GET", f"volumes/{volume['id']}/download/", expect=200, stream=True)
    received = sum(len(chunk) for chunk in response.iter_content(MIB))
    assert received == int(response.headers["Content-Length"]) == 1 << 30
    admin.succeeded(admin.get(f"operations/{response.headers['X-Operation']}/"))


def test_sigkill_of_the_web_process_streaming_a_download_fails_it_and_frees_the_volume(
    admin, fleet, hosts, tenant, fleet_db, volume
):
    """The uvicorn worker streaming a volume download is SIGKILLed mid-way: the reaper fails the
    download within lease + reaper round (its web process held the lease), the volume takes
    actions again (a new download reads all of it), uvicorn starts a new worker."""
    project, quota_before = tenant
    response, op_id, worker = start_download(admin, fleet_db, volume)
    pid = int(worker.rsplit("/", 1)[1])
    assert checks.started_by_fleet(fleet, pid) == "web", worker
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    with pytest.raises(requests.RequestException):  # the connection closed under it, short of its length
        for _ in response.iter_content(MIB):
            pass
    reaped_web_worker(admin, fleet, op_id, worker, killed, "download")
    usable_again(admin, volume)
    admin.succeeded(admin.action("DELETE", f"volumes/{volume['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [], quota_before)


def test_a_download_whose_client_goes_away_mid_way_fails_at_once_and_frees_the_volume(
    admin, fleet, hosts, tenant, fleet_db, volume
):
    """The client closes its connection after READ_FIRST_MIB: under uvicorn the download fails at
    its next chunk ("the client went away"), not after a lease; the volume takes actions again."""
    project, quota_before = tenant
    response, op_id, _worker = start_download(admin, fleet_db, volume)
    response.close()
    closed = time.monotonic()
    op = admin.wait(admin.get(f"operations/{op_id}/"), timeout=CLAIM_TIMEOUT_S)
    took = time.monotonic() - closed
    print(f"\nclient gone mid-download -> {op['status']} in {took:.1f} s: {op['error']}")
    assert op["status"] == "failed" and "the client went away" in op["error"], op
    assert took < 15, f"ended {took:.1f} s after the client went away (a lease's time, not at once)"
    usable_again(admin, volume)
    admin.succeeded(admin.action("DELETE", f"volumes/{volume['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [], quota_before)
