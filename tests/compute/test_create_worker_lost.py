"""A create whose worker died mid-build (the fleet tier kills one for real): the reaper's settle
hook removes what the build made on the host (root volume, seed, domain), gives the quota back
and leaves the instance in error, so it can be deleted; a host that does not answer is asked
again next round rather than judged blind."""

from datetime import timedelta

from celery import Celery
from django.utils import timezone

import hypervisor as hv
from compute import cloudinit
from compute.choices import InstanceState
from compute.models import Host, Instance
from compute.services import instances as service
from compute.tasks import instances as tasks
from portal import leases, operations, quotas
from portal.models import Operation


def _in_use(project):
    return {name: row["in_use"] for name, row in quotas.usage(project).items()}


def _half_built(alice, project, flavor, image):
    """A create claimed by a worker that made the root disk, the seed and the domain, then was killed."""
    before = _in_use(project)
    _, op = service.create_instance(
        alice, project, name="lost-1", flavor=flavor, image=image, user_data="#cloud-config\n"
    )  # not run: tests send tasks only on commit, inside run_tasks()
    leases.claim(op.pk, worker="worker-1/4242")
    instance = tasks._load(op.target_id)
    root = tasks._make_root(instance, image)
    assert cloudinit.place_seed(instance, image.pool) is not None
    tasks._prepare(instance)
    tasks._define(instance, root.path)
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    return Operation.objects.get(pk=op.pk), instance, before


def _on_host(instance):
    uri, pool = instance.host.uri, instance.image.pool
    volumes = {v.name for v in hv.list_volumes(uri, pool)}
    names = {instance.root_volume, cloudinit.seed_volume(instance.domain_name)} & volumes
    try:
        hv.domain_state(uri, str(instance.uuid))
        names.add("domain")
    except hv.DomainNotFound:
        pass
    return names


def test_the_reaper_removes_a_lost_builds_leftovers_and_gives_its_quota_back(alice, project_a, hosts, flavor, image):
    op, instance, before = _half_built(alice, project_a, flavor, image)
    assert _on_host(instance) == {instance.root_volume, cloudinit.seed_volume(instance.domain_name), "domain"}
    assert _in_use(project_a)["instances"] == before["instances"] + 1

    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    instance.refresh_from_db()
    assert op.status == "failed" and "Worker lost: worker-1/4242" in op.error
    assert "interrupted" in op.error and "nothing was left on the host" in op.error
    assert instance.state == InstanceState.ERROR and not instance.quota_held
    assert _on_host(instance) == set()
    assert _in_use(project_a) == before
    assert operations.active_on(instance) is None  # it can be deleted now
    delete = service.delete(alice, instance)
    assert delete.status == "queued"


def test_a_lost_build_on_a_host_that_does_not_answer_waits_for_the_host(alice, project_a, hosts, flavor, image):
    op, instance, _ = _half_built(alice, project_a, flavor, image)
    real_uri = instance.host.uri
    Host.objects.filter(pk=instance.host.pk).update(uri="qemu+tcp://127.0.0.1:1/system")
    assert leases.reap() == []  # asked again next round, lease and worker as they were
    op.refresh_from_db()
    assert op.status == "running" and op.worker == "worker-1/4242"
    assert Instance.objects.get(pk=instance.pk).state == InstanceState.BUILDING
    Host.objects.filter(pk=instance.host.pk).update(uri=real_uri)
    assert leases.reap() == [(op.pk, "failed")]
    assert Instance.objects.get(pk=instance.pk).state == InstanceState.ERROR


def test_a_create_whose_task_the_broker_refuses_puts_its_instance_in_error_and_gives_the_quota_back(
    alice, project_a, hosts, flavor, image
):
    """Found on the fleet with its Redis stopped: the create was failed ("Could not queue the
    task") but its instance stayed `building` with the quota held, for ever. A real refusal: a
    Celery app whose broker is a closed port."""
    app = Celery("refusing", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 1

    @app.task(name="tests.never_sent")
    def never_sent(op_id):
        raise AssertionError("a refused task cannot run")

    before = _in_use(project_a)
    _, op = service.create_instance(alice, project_a, name="unsent", flavor=flavor, image=image)  # not sent yet
    assert _in_use(project_a)["instances"] == before["instances"] + 1
    operations.send(never_sent, op.pk)

    op.refresh_from_db()
    instance = Instance.objects.get(pk=op.target_id)
    assert op.status == "failed" and "Could not queue the task" in op.error and "never started" in op.error
    assert instance.state == InstanceState.ERROR and not instance.quota_held
    assert _in_use(project_a) == before and _on_host(instance) == set()
    assert operations.active_on(instance) is None  # it can be deleted now
