"""Migrations and internal snapshots, on the test driver: refused up front with the reason (libvirt
keeps their metadata on the source and refuses to undefine the source's copy after the switch:
the lab saw 'cannot delete inactive domain with 1 snapshots' at 99 %, the guest running on the
target and a stopped copy left on the source). And whatever fails after the switch, the instance
is recorded where libvirt runs it and no stopped copy stays behind."""

import pytest

import hypervisor as hv
from compute.models import Migration, MigrationState
from compute.services import migration as service
from portal.errors import Conflict
from portal.models import Operation
from tests.compute.live_helpers import baseline, instant, on_host, running  # noqa: F401


@pytest.mark.parametrize("options", [{"copy_storage": True}, {}], ids=["copy-storage", "shared"])
def test_an_instance_with_an_internal_snapshot_is_refused_before_anything_moves(
    running, hosts, baseline, admin_user, options
):
    hv.snapshot_create(running.host.uri, str(running.uuid), "before-upgrade")
    with pytest.raises(Conflict, match=r"internal snapshots \(before-upgrade\).*Delete its internal snapshots"):
        service.start_migration(running, target_host=hosts[1], user=admin_user, options=options)
    assert not Migration.objects.exists() and not Operation.objects.filter(kind=service.OPERATION_KIND).exists()
    assert on_host(running, hosts[0]) == "running" and on_host(running, hosts[1]) is None


def test_the_migrate_api_answers_409_with_the_reason(api, running, hosts, baseline):
    hv.snapshot_create(running.host.uri, str(running.uuid), "s1")
    payload = {"instance": running.pk, "target_host": hosts[1].pk, "copy_storage": True}
    response = api["admin"].post("/api/v1/migrations/", payload, format="json")
    assert response.status_code == 409, response.content
    assert "internal snapshots (s1)" in str(response.json())


def test_a_stopped_copy_libvirt_leaves_on_the_source_after_the_switch_is_removed(
    run_tasks, running, hosts, baseline, admin_user, instant, monkeypatch
):
    real = hv.migrate_domain

    def switched_then_undefine_failed(src, dst, uuid, *args, **kwargs):
        xml = hv.domain_xml(src, uuid, inactive=True)
        real(src, dst, uuid, *args, **kwargs)
        hv.domain_define(src, xml)  # what UNDEFINE_SOURCE failed to remove, with its snapshot
        hv.snapshot_create(src, uuid, "s1")
        raise hv.OperationFailed("cannot delete inactive domain with 1 snapshots")

    monkeypatch.setattr(hv, "migrate_domain", switched_then_undefine_failed)
    with run_tasks():
        op = service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    op.refresh_from_db()
    running.refresh_from_db()
    migration = Migration.objects.get(operation=op)
    assert op.status == "failed" and "The stopped copy libvirt left on host-a was removed." in op.error
    assert migration.state == MigrationState.FAILED
    assert running.host == hosts[1] and running.state == "active"
    assert on_host(running, hosts[1]) == "running" and on_host(running, hosts[0]) is None
    assert running.events.filter(kind="migrate cleanup").exists()
