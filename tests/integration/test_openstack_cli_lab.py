"""The real `openstack` command line (python-openstackclient from PyPI) against a portal served
from this test (pytest-django's live server, Celery eager) with the lab registered: alice creates
a server with `--wait` (real QEMU on a lab host: the domain runs, the guest heartbeats on its
serial console), reads that console with `console log show`, and deletes it with `--wait`;
nothing of it is left on the host. The in-process and embedded runs are tests/openstack/."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compute.models import Instance
from tests.conftest import PASSWORD
from tests.integration.conftest import domain_names, virsh, wait_for_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)
OPENSTACK = Path(sys.executable).parent / "openstack"
COMMAND_TIMEOUT_S = 300


def cli(url, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=f"{url}/openstack/identity/v3",
        OS_USERNAME="alice",
        OS_PASSWORD=PASSWORD,
        OS_PROJECT_NAME="acme",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_INTERFACE="public",
    )
    result = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr[-2000:]}"
    return result.stdout


def test_openstack_cli_boots_reads_the_console_of_and_deletes_a_lab_server(lab_cloud, project_a, live_server):
    if not OPENSTACK.exists():
        pytest.skip(f"{OPENSTACK} is missing: pip install -r requirements-dev.txt")
    assert project_a.name == "acme"
    url = live_server.url
    flavor, image = lab_cloud["flavor"].name, lab_cloud["image"].name
    created = json.loads(
        cli(url, "server", "create", "--image", image, "--flavor", flavor, "--nic", "none", "--wait", "os-lab",
            "-f", "json")
    )  # fmt: skip
    instance = Instance.objects.get(uuid=created["id"])
    try:
        assert created["status"] == "ACTIVE" and instance.host in lab_cloud["hosts"]
        assert virsh(instance.host.uri, "domstate", instance.domain_name).strip() == "running"
        wait_for_heartbeat(instance.serial_log_path)
        assert "nubes-heartbeat" in cli(url, "console", "log", "show", "os-lab")
        shown = json.loads(cli(url, "server", "show", "os-lab", "-f", "json"))
        assert (shown["status"], shown["OS-EXT-STS:power_state"]) in (("ACTIVE", 1), ("ACTIVE", "Running"))
        cli(url, "server", "delete", "--wait", "os-lab")
        assert json.loads(cli(url, "server", "list", "-f", "json")) == []
        assert instance.domain_name not in domain_names(instance.host.uri)
        virsh(instance.host.uri, "pool-refresh", instance.image.pool)
        assert instance.root_volume not in virsh(instance.host.uri, "vol-list", instance.image.pool)
    finally:
        instance.refresh_from_db()
        if instance.state != "deleted":  # never leave a guest on the shared lab
            for host in lab_cloud["hosts"]:
                virsh(host.uri, "destroy", instance.domain_name)
                virsh(host.uri, "undefine", instance.domain_name)
