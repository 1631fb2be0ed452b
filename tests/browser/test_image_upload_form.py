"""The image page's upload form in Chromium against a real portal (`runportal`, uvicorn): the
page shows a progress bar of what has been sent, and the server is storing the image while the
browser is still sending it (the upload's Operation running mid-way, checked in the portal's
database); at the end the image is active. The browser's upload is throttled (DevTools network
emulation) so the middle of the upload lasts long enough to look at."""

import json
import uuid

import pytest

pytestmark = pytest.mark.browser
MIB = 1 << 20
SIZE = 24 * MIB
UPLOAD_RATE = 4 * MIB  # bytes/s: about 6 s for the file

MAKE_IMAGE = """
from compute.models import Image
image = Image.objects.create(name="NAME", volume="NAME.qcow2", format="qcow2", state="queued")
print(image.pk)
"""
UPLOAD_STATE = """
import json
from compute.models import Image
from portal.models import Operation
op = Operation.objects.filter(kind="image.upload", target_id="PK").order_by("-pk").first()
image = Image.objects.get(pk=PK)
print(json.dumps({"status": op and op.status, "progress": op and op.progress, "image": image.state}))
"""
BAR_MIDWAY = """() => {
  const bar = document.querySelector("progress[data-upload-bar]");
  return bar && !bar.hidden && bar.value >= 15 && bar.value <= 70;
}"""


def qcow2(size):
    header = b"QFI\xfb" + bytes(20) + (1 << 30).to_bytes(8, "big")
    return header + b"\x5a" * (size - len(header))


def test_the_upload_form_shows_progress_while_the_portal_stores_the_file(login, portal_shell):
    name = f"up-{uuid.uuid4().hex[:8]}"
    pk = int(portal_shell(MAKE_IMAGE.replace("NAME", name)).strip().splitlines()[-1])
    page = login("admin")
    page.goto(f"/compute/images/{pk}/")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLOAD_RATE},
    )
    page.set_input_files(
        "#upload-form input[name=file]",
        files=[{"name": f"{name}.qcow2", "mimeType": "application/octet-stream", "buffer": qcow2(SIZE)}],
    )
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(BAR_MIDWAY, timeout=30000)
    assert "MiB sent" in page.inner_text("#upload-form [data-upload-text]")
    midway = json.loads(portal_shell(UPLOAD_STATE.replace("PK", str(pk))).strip().splitlines()[-1])
    assert midway["status"] == "running" and midway["image"] == "saving", midway
    page.wait_for_selector("h1 .status-active", timeout=60000)
    done = json.loads(portal_shell(UPLOAD_STATE.replace("PK", str(pk))).strip().splitlines()[-1])
    assert done == {"status": "succeeded", "progress": 100, "image": "active"}, done


def test_a_refused_upload_shows_the_forms_error_on_the_page(login, portal_shell):
    name = f"up-{uuid.uuid4().hex[:8]}"
    pk = int(portal_shell(MAKE_IMAGE.replace("NAME", name)).strip().splitlines()[-1])
    page = login("admin")
    page.goto(f"/compute/images/{pk}/")
    page.set_input_files(
        "#upload-form input[name=file]",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a disk image\n" * 4096}],
    )
    page.click("#upload-form button[type=submit]")
    error = page.wait_for_selector("#upload-form [data-error-for=file]")
    assert "Not a qcow2 image" in error.inner_text()
    state = json.loads(portal_shell(UPLOAD_STATE.replace("PK", str(pk))).strip().splitlines()[-1])
    assert state == {"status": "failed", "progress": 0, "image": "error"}, state
