"""A managed database's data volume grown live on simulated hosts, the agent faked (the
data-grow script's resize2fs runs in the lab tier): storage's resize of the attached volume,
then the grow hook; the refusals before anything runs (400 size, 403 reader, 404 outsider)."""

import pytest

from catalog import tasks
from catalog.models import Service
from portal.models import Operation

from .test_catalog_backups import FakeAgent, install, ordered_with
from .test_catalog_backups import db_template as db_template  # noqa: F401  (fixtures)
from .test_catalog_backups import order as order  # noqa: F401
from .test_catalog_backups import pages as pages  # noqa: F401
from .test_catalog_backups import pool as pool  # noqa: F401


class GrowAgent(FakeAgent):
    seen_gb = 3

    def answer(self, script):
        if script == "data-grow":
            size = self.seen_gb * 2**30
            return {"device": "/dev/vdb", "size_bytes": size, "filesystem_bytes": size - 2**26, "grown": True}
        return super().answer(script)


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, GrowAgent())


@pytest.fixture
def service(order, db_template):  # noqa: F811
    # A 2 GiB data volume (the schema's default).
    return ordered_with(order, db_template, hooks={"grow": "data-grow"})


def grow(api, run_tasks, service, size, user="alice"):
    with run_tasks():
        return api[user].post(f"/api/v1/services/{service.pk}/grow/", {"data_volume_gb": size}, format="json")


def test_the_attached_data_volume_grows_then_its_filesystem_in_the_guest(api, run_tasks, service, agent):
    response = grow(api, run_tasks, service, 3)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.grow" and op.status == "succeeded", op.error
    assert "grown to 3 GiB live" in op.message and op.detail["output"]["grown"] is True
    resize = Operation.objects.get(pk=op.detail["volume_operation"])
    assert resize.kind == "volume.resize" and resize.status == "succeeded"
    service.data_volume.refresh_from_db()
    assert service.data_volume.size_gb == 3 and service.data_volume.instance_id == service.instance_id
    assert agent.scripts()[-1] == "data-grow"


def test_a_guest_that_does_not_see_the_new_size_fails_the_operation(api, run_tasks, service, agent, monkeypatch):
    monkeypatch.setattr(tasks, "GROW_SEEN_S", 0)
    agent.seen_gb = 2
    op = Operation.objects.get(pk=grow(api, run_tasks, service, 3).json()["id"])
    assert op.status == "failed" and "still sees 2.0 GiB" in op.error


@pytest.mark.parametrize("size", [2, 1, 101, "3; rm", True])
def test_a_bad_size_is_a_400_and_nothing_runs(api, run_tasks, service, agent, size):
    before, ops = len(agent.calls), Operation.objects.count()
    response = grow(api, run_tasks, service, size)
    assert response.status_code == 400 and "data_volume_gb" in response.json(), response.content
    assert len(agent.calls) == before and Operation.objects.count() == ops


def test_readers_and_outsiders_cannot_grow_it(api, run_tasks, service, agent):
    assert grow(api, run_tasks, service, 3, user="bob").status_code == 403
    assert grow(api, run_tasks, service, 3, user="charlie").status_code == 404
    assert Service.objects.get(pk=service.pk).data_volume.size_gb == 2


def test_the_page_grows_it_and_readers_see_no_form(pages, run_tasks, service, agent):
    assert 'id="grow-data-volume"' in pages["alice"].get(f"/catalog/services/{service.pk}/").content.decode()
    assert 'id="grow-data-volume"' not in pages["bob"].get(f"/catalog/services/{service.pk}/").content.decode()
    agent.seen_gb = 4
    with run_tasks():
        response = pages["alice"].post(f"/catalog/services/{service.pk}/grow/", {"data_volume_gb": "4"})
    assert response.status_code == 302
    assert Service.objects.get(pk=service.pk).data_volume.size_gb == 4
