"""The integration tier: the portal driven through its API with Celery tasks executing for
real against the lab's libvirtds, OVS and OVN (`make lab`). Skipped, with the reason printed,
when the lab is not up. At most three small TCG guests run at a time."""

import contextlib
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from portal import lab as lab_module
from tests.conftest import client_for

HEARTBEAT_TIMEOUT_S = 90
POLL_S = 0.5


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lab():
    try:
        return lab_module.load()
    except lab_module.LabNotUp as exc:
        pytest.skip(f"the lab is not up: {exc}")


@pytest.fixture(scope="module", autouse=True)
def _no_events_after_the_module():
    """Registering the lab makes this process follow the hosts' lifecycle events; a module's
    database is gone when it ends, so stop following them then."""
    yield
    from compute.tasks import lifecycle as tasks

    tasks.stop_watches()


def register_lab(admin, lab, monkeypatch, **options):
    """Register the lab as `admin` (the network app then uses the lab's OVN, registered as the
    portal's OVN deployment) and see both hosts up; returns what was registered. ``options`` go
    to portal.lab.register (service_templates=True: the service guest and its template too)."""
    made = lab_module.register(admin, lab, **options)
    for host in made["hosts"]:
        host.refresh_from_db()
        assert host.state == "up", f"{host.name}: {host.state_reason}"
    for name in ("NUBES_OVN_NB", "NUBES_OVN_SB", "NUBES_OVN_ENCAP", "NUBES_OVN_GATEWAY_CHASSIS"):
        monkeypatch.delenv(name, raising=False)  # the environment would win over the registration
    for name, value in lab_module.vnc_tls_settings(lab).items():  # QEMU's VNC speaks VeNCrypt there
        monkeypatch.setattr(settings, name, value)
    return made


@pytest.fixture
def lab_cloud(lab, transactional_db, admin_user, alice, project_a, monkeypatch):
    """The lab registered by a cloud admin; returns what was registered."""
    return register_lab(admin_user, lab, monkeypatch)


@pytest.fixture
def host_a(lab_cloud):
    return lab_cloud["hosts"][0]


@pytest.fixture
def host_b(lab_cloud):
    return lab_cloud["hosts"][1]


@pytest.fixture
def admin_api(admin_user):
    return client_for(admin_user)


def virsh(uri, *args):
    result = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, timeout=60)
    return result.stdout


def domain_names(uri):
    return set(virsh(uri, "list", "--all", "--name").split())


def heartbeats(log_path):
    try:
        text = Path(log_path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [int(n) for n in re.findall(r"nubes-heartbeat (\d+)", text)]


def wait_for_heartbeat(log_path, after=None, timeout=HEARTBEAT_TIMEOUT_S):
    """The newest heartbeat counter, once one newer than `after` appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beats = heartbeats(log_path)
        if beats and (after is None or beats[-1] > after):
            return beats[-1]
        time.sleep(POLL_S)
    raise AssertionError(f"no heartbeat in {log_path} within {timeout}s (last: {heartbeats(log_path)[-3:]})")


def launch_payload(lab_cloud, project, host, name):
    """The API body that launches the lab guest (tiny flavor, lab image) on `host`."""
    return {
        "project": project.pk,
        "name": name,
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host.pk,
    }


@contextlib.contextmanager
def booted(admin_api, payload, hosts, extra_cleanup=None):
    """An instance created through the API (``payload``), heartbeating; deleted through the API
    after, or out of band on every host of ``hosts`` when that fails (its HA turned off first,
    so VM-level HA does not restart what is destroyed here). ``extra_cleanup(instance)`` runs
    after an out-of-band removal."""
    from compute.models import HaPriority, Instance
    from portal.models import Operation

    response = admin_api.post("/api/v1/instances/", payload, format="json")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", f"{op.kind}: {op.error or op.message}"
    instance = Instance.objects.get(pk=op.target_id)
    try:
        wait_for_heartbeat(instance.serial_log_path)
        yield instance
    finally:
        instance.refresh_from_db()
        response = admin_api.delete(f"/api/v1/instances/{instance.pk}/")
        if response.status_code != 202 or Operation.objects.get(pk=response.json()["id"]).status != "succeeded":
            Instance.objects.filter(pk=instance.pk).update(ha_priority=HaPriority.DISABLED)
            for host in hosts:  # never leave a guest running on the shared lab
                virsh(host.uri, "destroy", instance.domain_name)
                virsh(host.uri, "undefine", instance.domain_name)
            if instance.serial_log_path:  # the lab's hosts share its serial log directory
                Path(instance.serial_log_path).unlink(missing_ok=True)
            if extra_cleanup is not None:
                extra_cleanup(instance)


def pool_path(lab, name):
    return Path(next(pool["path"] for pool in lab["pools"] if pool["name"] == name))


def image_copy_in(lab, admin_api, pool, hosts, prefix):
    """The lab guest's image copied into `pool` (refreshed on `hosts`) and registered there as a
    public image; yields it, then removes the file. For use with `yield from` in a fixture."""
    from compute.models import Image
    from portal import lab as lab_module

    name = f"{prefix}-{uuid.uuid4().hex[:6]}.qcow2"
    path = pool_path(lab, pool) / name
    source = pool_path(lab, lab_module.SHARED_POOL) / lab_module.IMAGE_VOLUME
    if source.exists():
        shutil.copyfile(source, path)
    else:  # made on first use (a kernel-boot image's disk starts blank): a fresh lab has none yet
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{lab_module.GUEST_DISK_GB}G"],
            check=True,
            timeout=60,
        )
    for host in hosts:
        virsh(host.uri, "pool-refresh", pool)
    guest = lab["guest"]
    response = admin_api.post(
        "/api/v1/images/",
        {
            "name": name,
            "format": "qcow2",
            "virtual_size_gb": lab_module.GUEST_DISK_GB,
            "visibility": "public",
            "pool": pool,
            "volume": name,
            "kernel_path": guest["kernel"],
            "initrd_path": guest["initrd"],
            "kernel_cmdline": guest["cmdline"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    try:
        yield Image.objects.get(pk=response.json()["id"])
    finally:
        path.unlink(missing_ok=True)
        for host in hosts:
            virsh(host.uri, "pool-refresh", pool)
