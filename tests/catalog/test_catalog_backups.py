"""A managed database's data volume and backups on simulated hosts, with the guest agent faked
(libvirt's test driver has none; the scripts themselves run in the lab tier): the data volume
made with the order and attached before the data moves onto it, a backup on a volume of its own
attached for the dump and detached after it, a restore into a new service, deleting backups and
services, the refusals (400 for bad sizes, 403 for readers, 404 for other tenants), the pages."""

import itertools
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

import hypervisor as hv
from catalog import beat, tasks
from catalog.models import Backup, BackupState, Service, ServiceState, ServiceTemplate
from portal.models import Operation
from storage import services as storage_services
from storage.models import Volume
from tests.matrix import PermissionMatrix

from .conftest import POSTGRES_ACTIONS

HOOKS = {"data-volume": "data-volume", "backup": "backup-dump", "restore": "backup-restore"}
SCHEMA = {
    "type": "object",
    "properties": {
        "version": {"type": "string", "enum": ["15"]},
        "data_volume_gb": {"type": "integer", "minimum": 1, "maximum": 100, "default": 2},
    },
    "required": ["version"],
    "additionalProperties": False,
}
DUMPED = {
    "device": "/dev/vdc",
    "databases": [{"name": "shop", "size_bytes": 8 * 2**20, "dump_bytes": 2**20}],
    "size_bytes": 8 * 2**20,
    "dump_bytes": 2**20,
    "seconds": 1.5,
}


class FakeAgent:
    """hv.run_script as the image's scripts answer; records (domain uuid, script, arguments)."""

    def __init__(self):
        self.calls, self.failing = [], set()

    def __call__(self, uri, uuid, script, arguments, *, allowed, timeout=None):
        assert script in allowed, (script, allowed)
        self.calls.append((uuid, script, arguments))
        result = hv.ScriptResult(exit_code=0, stdout="{}", stderr="", output=self.answer(script), duration_s=0.1)
        if script in self.failing:
            failed = hv.ScriptResult(exit_code=1, stdout="", stderr="", output={"error": f"{script} broke"})
            raise hv.GuestScriptFailed(script, failed)
        return result

    def answer(self, script):
        return {
            "health": {"postgres": "accepting"},
            "data-volume": {"device": "/dev/vdb", "moved": True, "size_bytes": 2 * 2**30},
            "backup-dump": DUMPED,
            "backup-restore": {"device": "/dev/vdc", "databases": ["shop"], "roles": 2, "seconds": 0.7},
        }.get(script, {})

    def scripts(self, instance=None):
        return [script for uuid, script, _ in self.calls if instance is None or uuid == str(instance.uuid)]


def page_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pages(alice, bob, charlie):
    return {"alice": page_for(alice), "bob": page_for(bob), "charlie": page_for(charlie)}


@pytest.fixture
def agent(monkeypatch):
    fake = FakeAgent()
    monkeypatch.setattr(tasks.hv, "run_script", fake)
    return fake


@pytest.fixture
def pool(hosts, admin_user, run_tasks):
    with run_tasks():
        pool, _ = storage_services.define_pool(
            admin_user,
            hosts=hosts,
            name="shared",
            libvirt_name="default",
            type="dir",
            target_path="/var/lib/libvirt/images",
        )
    pool.refresh_from_db()
    assert pool.state == "active", pool.state_reason
    return pool


@pytest.fixture
def db_template(template, pool):
    template.parameter_schema, template.hooks = SCHEMA, HOOKS
    template.full_clean()
    template.save()
    return template


@pytest.fixture
def order(api, run_tasks, db_template, flavor, agent):
    names = itertools.count(1)

    def do(user="alice", parameters=None, **fields):
        payload = {
            "name": f"db{next(names)}",
            "template": db_template.pk,
            "flavor": flavor.pk,
            "parameters": {"version": "15", **(parameters or {})},
        }
        with run_tasks():
            return api[user].post("/api/v1/services/", {**payload, **fields}, format="json")

    return do


def ordered_with(order, db_template, actions=None, hooks=None):
    """A service ordered from db_template with these actions and hooks added."""
    db_template.actions = {**db_template.actions, **(actions or {})}
    db_template.hooks = {**db_template.hooks, **(hooks or {})}
    db_template.full_clean()
    db_template.save()
    return ordered(order())[0]


def install(monkeypatch, fake):
    monkeypatch.setattr(tasks.hv, "run_script", fake)
    return fake


def ordered(response):
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", (op.status, op.error)
    return Service.objects.select_related("data_volume", "instance").get(pk=op.target_id), op


@pytest.fixture
def service(order):
    return ordered(order())[0]


def back_up(api, run_tasks, service, user="alice"):
    with run_tasks():
        return api[user].post(f"/api/v1/services/{service.pk}/backup/", format="json")


def test_the_data_volume_is_made_with_the_order_and_holds_the_data_from_the_start(order, agent, pool):
    service, op = ordered(order(parameters={"data_volume_gb": 3}))
    volume = service.data_volume
    assert volume.size_gb == 3 and volume.pool == pool and volume.project == service.project
    assert volume.instance == service.instance and volume.state == "in-use" and volume.target_dev == "vdb"
    # Attached before the guest is asked anything; the data moved onto it before the service is active.
    assert agent.scripts() == ["health", "data-volume"]
    assert service.state == ServiceState.ACTIVE and op.detail["data_volume_setup"]["moved"] is True


@pytest.mark.parametrize("size", [0, 101, "2; rm"])
def test_a_bad_data_volume_size_is_a_400_and_nothing_is_made(order, agent, size):
    response = order(parameters={"data_volume_gb": size})
    assert response.status_code == 400 and "data_volume_gb" in str(response.json()), response.content
    assert not Service.objects.exists() and not Volume.objects.exists() and not agent.calls


def test_a_backup_is_written_to_a_volume_of_its_own_attached_then_detached(api, run_tasks, service, agent):
    response = back_up(api, run_tasks, service)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.backup" and op.status == "succeeded", op.error
    backup = Backup.objects.select_related("volume").get()
    assert backup.state == BackupState.AVAILABLE and backup.service == service and backup.size_bytes == 8 * 2**20
    assert backup.dump_bytes == 2**20 and backup.dump_s == 1.5 and backup.duration_s is not None
    assert backup.volume != service.data_volume and backup.volume.size_gb == service.data_volume.size_gb
    assert backup.volume.instance is None and backup.volume.state == "available"  # detached again
    kinds = list(Operation.objects.filter(target_type="storage.volume").values_list("kind", flat=True))
    assert sorted(kinds).count("volume.attach") == 2 and "volume.detach" in kinds  # data + backup; backup detached
    assert agent.scripts()[-1] == "backup-dump"
    listed = api["alice"].get(f"/api/v1/backups/?service={service.pk}").json()
    assert [row["name"] for row in listed["results"]] == [backup.name]
    assert listed["results"][0]["databases"][0]["name"] == "shop"


def test_a_backup_restores_into_a_new_server(api, run_tasks, service, agent, order):
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    restored, op = ordered(order(backup=backup.pk))
    assert restored.restored_from == backup and restored.state == ServiceState.ACTIVE
    # New server: its own data volume first, then the backup's volume attached, restored, detached.
    assert agent.scripts(restored.instance) == ["health", "data-volume", "backup-restore"]
    assert op.detail["restore"]["databases"] == ["shop"]
    backup.refresh_from_db()
    assert backup.state == BackupState.AVAILABLE and backup.volume.instance is None
    assert restored.data_volume != service.data_volume


def test_a_failed_restore_leaves_the_backup_available_and_detached(api, run_tasks, service, agent, order):
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    agent.failing.add("backup-restore")
    response = order(backup=backup.pk)
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "backup-restore broke" in op.error
    backup.refresh_from_db()
    assert backup.state == BackupState.AVAILABLE and Volume.objects.get(pk=backup.volume_id).instance is None
    assert Service.objects.get(pk=op.target_id).state == ServiceState.ERROR


def test_a_failed_dump_is_a_failed_backup_with_its_volume_detached(api, run_tasks, service, agent):
    agent.failing.add("backup-dump")
    op = Operation.objects.get(pk=back_up(api, run_tasks, service).json()["id"])
    assert op.status == "failed" and "backup-dump broke" in op.error
    backup = Backup.objects.select_related("volume").get()
    assert backup.state == BackupState.ERROR and "backup-dump broke" in backup.status_reason
    assert backup.volume.instance is None
    with run_tasks():
        assert api["alice"].delete(f"/api/v1/backups/{backup.pk}/").status_code == 202
    assert not Backup.objects.exists() and not Volume.objects.filter(pk=backup.volume_id).exists()


def test_deleting_a_backup_deletes_its_volume(api, run_tasks, service, agent):
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/backups/{backup.pk}/")
    assert response.status_code == 202 and response.json()["kind"] == "volume.delete"
    assert not Backup.objects.exists() and not Volume.objects.filter(pk=backup.volume_id).exists()


def test_deleting_the_service_deletes_its_data_volume_and_keeps_its_backups(api, run_tasks, service, agent):
    back_up(api, run_tasks, service)
    with run_tasks():
        assert api["alice"].delete(f"/api/v1/services/{service.pk}/").status_code == 202
    assert not Service.objects.exists() and not Volume.objects.filter(pk=service.data_volume_id).exists()
    backup = Backup.objects.get()
    assert backup.service is None and backup.service_name == service.name and backup.state == BackupState.AVAILABLE


def test_restore_refusals(api, run_tasks, service, agent, order, project_b):
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    # Another tenant cannot name it: "does not exist", nothing built.
    before = Service.objects.count()
    response = order(user="charlie", backup=backup.pk, project=project_b.pk)
    assert response.status_code == 400 and "backup" in response.json(), response.content
    # Busy (being restored): refused.
    Backup.objects.filter(pk=backup.pk).update(state=BackupState.RESTORING)
    assert order(backup=backup.pk).status_code == 409
    assert Service.objects.count() == before


def test_a_template_without_backup_scripts_has_no_backups(api, run_tasks, agent, hosts, template, flavor):
    with run_tasks():
        response = api["alice"].post(
            "/api/v1/services/",
            {"name": "plain", "template": template.pk, "flavor": flavor.pk, "parameters": {"version": "15"}},
            format="json",
        )
    service = Service.objects.get(pk=Operation.objects.get(pk=response.json()["id"]).target_id)
    assert service.data_volume is None
    response = back_up(api, run_tasks, service)
    assert response.status_code == 400 and "no backups" in str(response.json())


def test_readers_and_outsiders_cannot_back_up_or_delete(api, run_tasks, service, agent):
    assert back_up(api, run_tasks, service, user="bob").status_code == 403
    assert back_up(api, run_tasks, service, user="charlie").status_code == 404
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    assert api["bob"].delete(f"/api/v1/backups/{backup.pk}/").status_code == 403
    assert api["charlie"].delete(f"/api/v1/backups/{backup.pk}/").status_code == 404
    assert api["charlie"].get("/api/v1/backups/").json()["count"] == 0
    assert Backup.objects.filter(pk=backup.pk, state=BackupState.AVAILABLE).exists()


def test_the_hooks_are_checked_and_allowed_only_with_their_template(db_template):
    assert {"data-volume", "backup-dump", "backup-restore"} <= db_template.allowed_scripts()
    bad = ServiceTemplate(name="x", image=db_template.image, parameter_schema=SCHEMA, hooks={"backup": "rm -rf /"})
    with pytest.raises(Exception, match="must match"):
        bad.full_clean()
    no_hook = ServiceTemplate(name="y", image=db_template.image, parameter_schema=SCHEMA, actions=POSTGRES_ACTIONS)
    with pytest.raises(Exception, match="data-volume hook"):
        no_hook.full_clean()


def test_the_backups_tab_lists_them_with_restore_and_the_order_page_says_what_it_restores(
    pages, api, run_tasks, service, agent
):
    back_up(api, run_tasks, service)
    backup = Backup.objects.get()
    page = pages["alice"].get(f"/catalog/services/{service.pk}/?tab=backups").content.decode()
    assert f'data-name="{backup.name}"' in page and f"?backup={backup.pk}" in page and "Back up now" in page
    reader = pages["bob"].get(f"/catalog/services/{service.pk}/?tab=backups").content.decode()
    assert f'data-name="{backup.name}"' in reader and "Back up now" not in reader
    order_page = pages["alice"].get(f"/catalog/templates/{service.template_id}/order/?backup={backup.pk}")
    assert 'id="restore-note"' in order_page.content.decode()
    assert (
        pages["charlie"].get(f"/catalog/templates/{service.template_id}/order/?backup={backup.pk}").status_code == 404
    )


def test_the_backup_button_on_the_page_takes_one(pages, run_tasks, service, agent):
    with run_tasks():
        response = pages["alice"].post(f"/catalog/services/{service.pk}/backup/")
    assert response.status_code == 302 and Backup.objects.get().state == BackupState.AVAILABLE


class TestBackupMatrix(PermissionMatrix):
    list_url = "/api/v1/backups/"

    @pytest.fixture(autouse=True)
    def _setup(self, db_template, pool):
        self.template, self.pool = db_template, pool

    def make(self, project):
        volume = Volume.objects.create(project=project, name="bk", pool=self.pool, size_gb=1, state="available")
        return Backup.objects.create(
            project=project, name="bk", service_name="db", template=self.template, volume=volume, state="available"
        )


def test_the_schedule_is_set_through_the_api_with_its_limits(api, service):
    url = f"/api/v1/services/{service.pk}/backup-schedule/"
    response = api["alice"].post(url, {"every_hours": 6, "keep": 2}, format="json")
    assert response.status_code == 200 and response.json()["backup_every_hours"] == 6, response.content
    assert api["alice"].post(url, {"every_hours": 0, "keep": 2}, format="json").status_code == 400
    assert api["alice"].post(url, {"every_hours": 6, "keep": 0}, format="json").status_code == 400
    assert api["alice"].post(url, {"every_hours": 6, "keep": 2, "x": 1}, format="json").status_code == 400
    assert api["bob"].post(url, {"every_hours": 1, "keep": 1}, format="json").status_code == 403
    assert api["charlie"].post(url, {"every_hours": 1, "keep": 1}, format="json").status_code == 404
    service.refresh_from_db()
    assert (service.backup_every_hours, service.backup_keep) == (6, 2)


def test_beat_takes_the_backups_that_are_due_and_keeps_the_newest(api, run_tasks, service, agent):
    back_up(api, run_tasks, service)  # on demand: never pruned by the schedule
    api["alice"].post(f"/api/v1/services/{service.pk}/backup-schedule/", {"every_hours": 6, "keep": 2}, format="json")
    now = timezone.now()
    with run_tasks():
        assert beat.scheduled_backups(now) == (1, 0)
    with run_tasks():
        assert beat.scheduled_backups(now + timedelta(hours=1)) == (0, 0)  # not due yet
    for hours in (7, 14):
        Backup.objects.filter(scheduled=True).update(created=now - timedelta(hours=hours))
        with run_tasks():
            beat.scheduled_backups(now)
    scheduled = Backup.objects.filter(scheduled=True)
    assert scheduled.count() == 2 and all(b.state == BackupState.AVAILABLE for b in scheduled)
    assert Backup.objects.filter(scheduled=False).count() == 1
    assert Volume.objects.filter(service_backup__isnull=False).count() == 3


@pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in the worker (the audit before the project goes)
def test_a_project_purge_removes_the_service_its_data_volume_and_its_backups(api, run_tasks, service, agent, project_a):
    back_up(api, run_tasks, service)
    with run_tasks():
        response = api["admin"].post(f"/api/v1/projects/{project_a.pk}/purge/")
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert not Service.objects.exists() and not Backup.objects.exists() and not Volume.objects.exists()


def test_the_data_volume_goes_even_when_the_instance_is_deleted_after_the_task_began(
    alice, service, agent, monkeypatch, django_capture_on_commit_callbacks
):
    """On the fleet the service's delete task starts while the instance's delete still runs: the
    volume it loaded was attached then (the fleet run found it refused: "detach it first")."""
    from catalog import services

    with django_capture_on_commit_callbacks(execute=False) as queued:
        services.delete(alice, Service.objects.get(pk=service.pk))

    def sends_service_delete(callback):
        cells = [cell.cell_contents for cell in callback.__closure__ or ()]
        return any(getattr(cell, "name", None) == tasks.delete_service.name for cell in cells)

    later = [callback for callback in queued if sends_service_delete(callback)]
    assert len(later) == 1
    real_wait = tasks._wait_for

    def wait_while_the_instance_goes(op_id, limit_s, sleep=None):
        for callback in queued:  # the instance's delete ends only now, after the task loaded the service
            if callback not in later:
                callback()
        return real_wait(op_id, limit_s)

    monkeypatch.setattr(tasks, "_wait_for", wait_while_the_instance_goes)
    with django_capture_on_commit_callbacks(execute=True):
        later[0]()
    assert not Service.objects.exists() and not Volume.objects.filter(pk=service.data_volume_id).exists()
