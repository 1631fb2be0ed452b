"""Boot the lab guest on host A through the API, see its heartbeat on the serial console,
stop / start / delete it, and find no domain or volume left behind."""

import pytest

from compute.models import Instance
from portal.models import Operation
from tests.integration.conftest import domain_names, virsh, wait_for_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def succeeded(response):
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", f"{op.kind}: {op.error or op.message}"
    return op


def test_an_instance_boots_on_host_a_heartbeats_and_leaves_nothing_behind(admin_api, lab_cloud, host_a, project_a):
    payload = {
        "project": project_a.pk,
        "name": "it-boot",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_a.pk,
    }
    op = succeeded(admin_api.post("/api/v1/instances/", payload, format="json"))
    instance = Instance.objects.get(pk=op.target_id)
    assert instance.host_id == host_a.pk and instance.state == "active"
    assert instance.domain_name in domain_names(host_a.uri)
    assert virsh(host_a.uri, "domstate", instance.domain_name).strip() == "running"
    first = wait_for_heartbeat(instance.serial_log_path)

    succeeded(admin_api.post(f"/api/v1/instances/{instance.pk}/stop/", {"force": True}, format="json"))
    assert virsh(host_a.uri, "domstate", instance.domain_name).strip() == "shut off"
    succeeded(admin_api.post(f"/api/v1/instances/{instance.pk}/start/", {}, format="json"))
    assert wait_for_heartbeat(instance.serial_log_path, after=first) > first

    root_volume = instance.root_volume
    succeeded(admin_api.delete(f"/api/v1/instances/{instance.pk}/"))
    assert instance.domain_name not in domain_names(host_a.uri)
    virsh(host_a.uri, "pool-refresh", instance.image.pool)
    assert root_volume not in virsh(host_a.uri, "vol-list", instance.image.pool)
