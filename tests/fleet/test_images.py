"""A 100 MiB image uploaded through the API of the fleet lands in a pool only host B serves:
the web process that takes the body streams it over libvirt into B's pool (no spool on the web
node, whose data directory B cannot see), the image is then active with its size and checksum,
and the bytes virsh reads back from B are the upload's. Then an import from a URL, which a
worker fetches (Glance's web-download). Everything removed after."""

import functools
import hashlib
import http.server
import os
import threading
import time
import uuid

import pytest

from tests.fleet.checks import virsh

MIB = 1 << 20
UPLOAD_MIB = 100
POOL_DIR = "/var/lib/nubes-lab/fleet-image-{}"  # the pool's delete removes it (the portal made it)


@pytest.fixture
def pool_on_b(admin, hosts, fleet):
    """A dir pool only host B serves: (its libvirt name, host B); its delete removes its directory too."""
    host_b = hosts[fleet["lab"]["hosts"][1]["name"]]
    tag = uuid.uuid4().hex[:6]
    name, directory = f"nubes-fleet-image-{tag}", POOL_DIR.format(tag)
    made = admin.action(
        "POST",
        "storage-pools/",
        json={
            "name": f"fleet-image-{tag}",
            "libvirt_name": name,
            "type": "dir",
            "target_path": directory,
            "hosts": [host_b["id"]],
        },
    )
    admin.succeeded(made)
    yield name, host_b
    removal = admin.call("DELETE", f"storage-pools/{made['target_id']}/")
    if removal.status_code == 202:
        admin.wait(removal.json())
    assert not os.path.isdir(directory), "the pool's delete leaves the directory it made"  # B shares this file system
    assert name not in virsh(host_b["uri"], "pool-list", "--all", "--name").split()


def remove_image(admin, image, host_b, pool_name, volume):
    """Deleting an image (an Operation) removes its volume from the pool on host B too."""
    if admin.call("GET", f"images/{image['id']}/").status_code == 200:
        admin.succeeded(admin.call("DELETE", f"images/{image['id']}/", expect=202).json())
    virsh(host_b["uri"], "pool-refresh", pool_name)
    assert volume not in virsh(host_b["uri"], "vol-list", pool_name), "the image's volume outlived it"


def test_a_100_mib_image_upload_lands_in_host_bs_pool_and_is_active(admin, pool_on_b, tmp_path):
    pool_name, host_b = pool_on_b
    tag = uuid.uuid4().hex[:6]
    source = tmp_path / "image.raw"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(UPLOAD_MIB):
            block = os.urandom(MIB)
            digest.update(block)
            out.write(block)
    volume = f"fleet-image-{tag}.raw"
    body = {"name": f"fleet-image-{tag}", "format": "raw", "pool": pool_name, "volume": volume, "state": "queued"}
    image = admin.call("POST", "images/", expect=201, json=body).json()
    try:
        start = time.monotonic()
        with source.open("rb") as data:  # a file: requests sends its Content-Length
            answer = admin.call(
                "POST",
                f"images/{image['id']}/upload/",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        took = time.monotonic() - start
        assert answer.status_code == 202, answer.text[:2000]
        op = admin.succeeded(answer.json())
        print(f"\n{UPLOAD_MIB} MiB image upload to {host_b['name']}: {took:.1f} s, {UPLOAD_MIB / took:.0f} MiB/s")
        assert f"on {host_b['name']}" in op["message"], op["message"]
        after = admin.get(f"images/{image['id']}/")
        assert after["state"] == "active", after
        assert after["size_bytes"] == UPLOAD_MIB * MIB and after["checksum_sha256"] == digest.hexdigest(), after
        virsh(host_b["uri"], "pool-refresh", pool_name)
        info = virsh(host_b["uri"], "vol-info", volume, "--pool", pool_name, "--bytes")
        assert f"{UPLOAD_MIB * MIB} bytes" in info, info
        copy = tmp_path / "back.raw"
        virsh(host_b["uri"], "vol-download", volume, str(copy), "--pool", pool_name)
        back = hashlib.sha256()
        with copy.open("rb") as read:
            for block in iter(lambda: read.read(MIB), b""):
                back.update(block)
        assert back.hexdigest() == digest.hexdigest(), "host B holds other bytes than the upload's"
    finally:
        remove_image(admin, image, host_b, pool_name, volume)


IMPORT_MIB = 16


def test_an_image_imported_from_a_url_is_fetched_by_a_worker_into_host_bs_pool(admin, pool_on_b, fleet, tmp_path):
    """Glance's web-download on the fleet: the test serves a file over HTTP on host A's lab
    address (reachable from both workers, one inside host B's namespace); whichever worker
    takes the task fetches it into a pool only host B serves."""
    pool_name, host_b = pool_on_b
    tag = uuid.uuid4().hex[:6]
    (tmp_path / "served").mkdir()
    data = os.urandom(IMPORT_MIB * MIB)
    (tmp_path / "served" / "disk.raw").write_bytes(data)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    httpd = http.server.ThreadingHTTPServer((fleet["lab"]["hosts"][0]["mgmt_ip"], 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://{httpd.server_address[0]}:{httpd.server_address[1]}/disk.raw"
    volume = f"fleet-import-{tag}.raw"
    body = {"name": f"fleet-import-{tag}", "format": "raw", "pool": pool_name, "volume": volume, "state": "queued"}
    image = admin.call("POST", "images/", expect=201, json=body).json()
    try:
        op = admin.succeeded(admin.action("POST", f"images/{image['id']}/import/", json={"url": url}))
        assert f"on {host_b['name']}" in op["message"], op["message"]
        after = admin.get(f"images/{image['id']}/")
        assert after["state"] == "active" and after["size_bytes"] == len(data), after
        assert after["checksum_sha256"] == hashlib.sha256(data).hexdigest()
        print(f"\nURL import of {IMPORT_MIB} MiB into {host_b['name']}'s pool: {op['message']}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        remove_image(admin, image, host_b, pool_name, volume)
