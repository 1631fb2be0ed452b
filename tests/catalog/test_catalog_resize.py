"""A managed database resized by flavor on simulated hosts (libvirt's test driver; the guest agent
faked): through compute's own resize, live where compute can (more vCPUs), otherwise the VM
stopped, resized and started; "resizing" meanwhile, active after; the refusals before anything
runs (400 on the flavor: not the template's, the same, over quota, a smaller disk; 409 busy;
403 reader; 404 another tenant); a failed resize leaves the VM running on its old flavor; the page."""

import pytest

import hypervisor as hv
from catalog.models import Service, ServiceState
from compute.models import Flavor
from compute.tasks import instances as compute_tasks
from portal.models import Operation, Quota

from .test_catalog_backups import FakeAgent, install, ordered
from .test_catalog_backups import db_template as db_template  # noqa: F401  (fixtures)
from .test_catalog_backups import order as order  # noqa: F401
from .test_catalog_backups import pages as pages  # noqa: F401
from .test_catalog_backups import pool as pool  # noqa: F401


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, FakeAgent())


@pytest.fixture
def wider(db_template):  # noqa: F811
    """Same memory, one more vCPU: compute resizes a running VM to it live (vCPU hotplug)."""
    flavor = Flavor.objects.create(name="m1.wide", vcpus=2, ram_mb=2048, disk_gb=20)
    db_template.flavors.add(flavor)
    return flavor


@pytest.fixture
def bigger(db_template):  # noqa: F811
    """More memory without hotplug slots: a cold resize."""
    flavor = Flavor.objects.create(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=20)
    db_template.flavors.add(flavor)
    return flavor


@pytest.fixture
def service(order, agent):  # noqa: F811
    service, _ = ordered(order())
    agent.calls.clear()
    return service


def resize(api, run_tasks, service, flavor, user="alice"):
    with run_tasks():
        return api[user].post(f"/api/v1/services/{service.pk}/resize/", {"flavor": flavor.pk}, format="json")


def instance_ops(service):
    return list(
        Operation.objects.filter(target_type="compute.instance", target_id=str(service.instance_id))
        .exclude(kind="instance.create")
        .order_by("pk")
        .values_list("kind", "status")
    )


def test_a_cold_resize_stops_resizes_and_starts_the_vm_then_the_service_is_active(
    api, run_tasks, service, bigger, agent
):
    response = resize(api, run_tasks, service, bigger)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.resize" and op.status == "succeeded", op.error
    assert "resized to m1.medium (cold: stopped, resized, started)" in op.message and op.detail["live"] is False
    assert instance_ops(service) == [
        ("instance.stop", "succeeded"),
        ("instance.resize", "succeeded"),
        ("instance.start", "succeeded"),
    ]
    service.refresh_from_db()
    service.instance.refresh_from_db()
    assert service.state == ServiceState.ACTIVE and service.flavor == bigger
    assert service.instance.flavor == bigger and service.instance.state == "active"
    state = hv.domain_state(service.instance.host.uri, str(service.instance.uuid))
    assert state.max_memory_kib == 4096 * 1024
    assert Quota.objects.get(project=service.project, resource="ram_mb").in_use == 4096
    assert agent.scripts() == ["health"]  # asked again once it runs on the new flavor
    assert api["alice"].get(f"/api/v1/services/{service.pk}/").json()["flavor"] == bigger.pk


def test_more_vcpus_are_added_live(api, run_tasks, service, wider, agent):
    op = Operation.objects.get(pk=resize(api, run_tasks, service, wider).json()["id"])
    assert op.status == "succeeded", op.error
    assert op.detail["live"] is True and "(live)" in op.message
    assert instance_ops(service) == [("instance.resize", "succeeded")]
    service.instance.refresh_from_db()
    assert service.instance.vcpus == 2 and Service.objects.get(pk=service.pk).flavor == wider


def test_the_service_is_resizing_until_done_and_a_second_request_is_409(api, service, bigger, agent):
    # Queued, its task not run yet (no run_tasks): the service shows "resizing".
    response = api["alice"].post(f"/api/v1/services/{service.pk}/resize/", {"flavor": bigger.pk}, format="json")
    assert response.status_code == 202
    assert api["alice"].get(f"/api/v1/services/{service.pk}/").json()["state"] == "resizing"
    again = api["alice"].post(f"/api/v1/services/{service.pk}/resize/", {"flavor": bigger.pk}, format="json")
    assert again.status_code == 409, again.content
    busy = api["alice"].post(f"/api/v1/services/{service.pk}/backup/", format="json")
    assert busy.status_code == 409 and "resizing" in busy.json()["detail"]


@pytest.mark.parametrize("case", ["not-offered", "same", "quota", "smaller-disk", "unknown"])
def test_a_flavor_that_cannot_be_had_is_a_400_on_the_field_and_nothing_runs(
    api, run_tasks, service, bigger, agent, case
):
    flavor = bigger
    if case == "not-offered":
        flavor = Flavor.objects.create(name="m1.other", vcpus=2, ram_mb=2048, disk_gb=20)
    elif case == "same":
        flavor = service.flavor
    elif case == "quota":
        Quota.objects.filter(project=service.project, resource="ram_mb").update(limit=3000)
    elif case == "smaller-disk":
        flavor = Flavor.objects.create(name="m1.tiny", vcpus=1, ram_mb=2048, disk_gb=5)
        service.template.flavors.add(flavor)
    ops = Operation.objects.count()
    if case == "unknown":
        with run_tasks():
            response = api["alice"].post(f"/api/v1/services/{service.pk}/resize/", {"flavor": 99999}, format="json")
    else:
        response = resize(api, run_tasks, service, flavor)
    assert response.status_code == 400 and "flavor" in response.json(), response.content
    message = " ".join(response.json()["flavor"])
    expected = {
        "not-offered": "runs on flavors",
        "same": "already runs on",
        "quota": "Quota exceeded for ram_mb",
        "smaller-disk": "smaller than the VM's 20 GB",
        "unknown": "",
    }[case]
    assert expected in message, message
    assert Operation.objects.count() == ops and not agent.calls
    service.refresh_from_db()
    assert service.state == ServiceState.ACTIVE and service.flavor.name == "m1.small"


@pytest.mark.parametrize("state", [ServiceState.BUILDING, ServiceState.ERROR, ServiceState.DELETING])
def test_a_service_that_is_not_active_is_409(api, run_tasks, service, bigger, agent, state):
    Service.objects.filter(pk=service.pk).update(state=state)
    response = resize(api, run_tasks, service, bigger)
    assert response.status_code == 409, response.content
    assert instance_ops(service) == [] and not agent.calls


def test_a_failed_resize_starts_the_vm_again_on_its_old_flavor(api, run_tasks, service, bigger, agent, monkeypatch):
    def broken_define(instance, root_path):
        raise hv.HypervisorError("defining the domain failed")

    monkeypatch.setattr(compute_tasks, "_define", broken_define)
    op = Operation.objects.get(pk=resize(api, run_tasks, service, bigger).json()["id"])
    assert op.status == "failed" and "defining the domain failed" in op.error, (op.status, op.error)
    assert instance_ops(service) == [
        ("instance.stop", "succeeded"),
        ("instance.resize", "failed"),
        ("instance.start", "succeeded"),
    ]
    service.refresh_from_db()
    service.instance.refresh_from_db()
    assert service.state == ServiceState.ACTIVE and service.flavor.name == "m1.small"
    assert service.instance.state == "active" and service.instance.ram_mb == 2048
    assert Quota.objects.get(project=service.project, resource="ram_mb").in_use == 2048


def test_readers_and_other_tenants_cannot_resize(api, run_tasks, service, bigger, agent):
    assert resize(api, run_tasks, service, bigger, user="bob").status_code == 403
    assert resize(api, run_tasks, service, bigger, user="charlie").status_code == 404
    assert instance_ops(service) == [] and Service.objects.get(pk=service.pk).flavor.name == "m1.small"


def test_the_page_resizes_it_and_readers_see_no_form(pages, run_tasks, service, bigger, agent):
    page = pages["alice"].get(f"/catalog/services/{service.pk}/").content.decode()
    assert 'id="resize-service"' in page and "m1.medium" in page
    assert 'id="resize-service"' not in pages["bob"].get(f"/catalog/services/{service.pk}/").content.decode()
    with run_tasks():
        assert pages["bob"].post(f"/catalog/services/{service.pk}/resize/", {"flavor": bigger.pk}).status_code == 302
        assert (
            pages["charlie"].post(f"/catalog/services/{service.pk}/resize/", {"flavor": bigger.pk}).status_code == 404
        )
    assert Service.objects.get(pk=service.pk).flavor.name == "m1.small"
    with run_tasks():
        refused = pages["alice"].post(
            f"/catalog/services/{service.pk}/resize/", {"flavor": service.flavor_id}, follow=True
        )
    assert "already runs on flavor m1.small" in refused.content.decode()
    with run_tasks():
        response = pages["alice"].post(f"/catalog/services/{service.pk}/resize/", {"flavor": bigger.pk})
    assert response.status_code == 302
    assert Service.objects.get(pk=service.pk).flavor == bigger
