"""The pool types this lab cannot serve, tried for real on host A's libvirtd through the API:
kernel iSCSI at the storage node's tgtd target, Ceph RBD at a monitor address on the storage
network where no Ceph runs, LVM on a volume group that does not exist (no device-mapper here)
and a whole disk on a device path that does not exist. Each define fails with libvirt's
own error, which the portal shows on the operation and the pool (API and page); nothing stays
defined in libvirt, and the pool, in error, deletes cleanly."""

import uuid

import pytest
from django.test import Client
from django.utils.html import escape

from portal.models import Operation
from storage.models import StoragePool
from tests.integration.conftest import virsh

pytestmark = pytest.mark.django_db(transaction=True)

# type -> (fields besides name and hosts, what libvirt's error says, as seen on the lab)
CASES = {
    "iscsi": (
        lambda lab: {
            "source_host": lab["storage"]["iscsi"]["portal"].split(":")[0],
            "source_device": lab["storage"]["iscsi"]["iqn"],
            "target_path": "/dev/disk/by-path",
        },
        # libvirt runs the kernel initiator's tool, which is not here (127: no such command); the
        # kernel has no iscsi_tcp either (no /sys/module/iscsi_tcp, no module loading)
        "/usr/bin/iscsiadm failed new mode for target",
    ),
    "rbd": (
        lambda lab: {"source_host": lab["storage"]["address"], "source_name": "nubes-rbd"},
        "missing backend for pool type 9 (rbd)",  # Debian's libvirt without its rbd storage driver
    ),
    # the portal builds the pool (vgcreate) and there is no physical volume to build it on
    "logical": (lambda lab: {"source_name": "nubes-it-vg"}, "Child process (/sbin/vgcreate nubes-it-vg) unexpected"),
    "disk": (
        lambda lab: {"source_device": "/dev/nubes-no-such-disk", "target_path": "/dev"},
        "Failed to create filesystem probe for device /dev/nubes-no-such-disk",
    ),
}


@pytest.mark.parametrize("pool_type", list(CASES))
def test_a_pool_type_the_lab_cannot_serve_fails_with_libvirts_error_and_leaves_nothing(
    pool_type, lab, admin_api, admin_user, host_a
):
    if "storage" not in lab:
        pytest.skip("the lab has no storage node (lab.json without 'storage'): run lab/up.sh again")
    fields, expected = CASES[pool_type]
    name = f"nubes-it-{pool_type}-{uuid.uuid4().hex[:6]}"
    payload = {"name": name, "libvirt_name": name, "type": pool_type, "hosts": [host_a.pk], **fields(lab)}
    made = admin_api.post("/api/v1/storage-pools/", payload, format="json")
    assert made.status_code == 202, made.content
    op = Operation.objects.get(pk=made.json()["id"])
    pool = StoragePool.objects.get(name=name)
    shown = admin_api.get(f"/api/v1/storage-pools/{pool.pk}/").json()
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get("/storage/pools/").content.decode()
    print(f"{pool_type}: op {op.status}: {op.error!r}; pool {shown['state']}: {shown['state_reason']!r}")
    assert op.status == "failed"
    assert expected in op.error
    assert shown["state"] == "error"
    assert expected in shown["state_reason"]
    assert shown["state_reason"] == f"nubes-hosta: {op.error}"[:500]
    assert escape(shown["state_reason"][:80]) in page
    assert name not in virsh(host_a.uri, "pool-list", "--all", "--name").split()
    removal = admin_api.delete(f"/api/v1/storage-pools/{pool.pk}/")
    assert removal.status_code == 202, removal.content
    assert Operation.objects.get(pk=removal.json()["id"]).status == "succeeded"
    assert not StoragePool.objects.filter(name=name).exists()
