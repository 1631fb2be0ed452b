"""service.resize: the VM resized through compute's own verbs, each run here in order
(operations.run_inline: its Operation is compute's, its quota and checks compute's). Live: one
instance.resize. Cold: instance.stop (the guest's init stops PostgreSQL cleanly on the power
button), instance.resize, instance.start; when the resize fails the VM is started again on its
old flavor, so nothing is left half-done. Then the health script: active, or degraded with why."""

import time

from celery import shared_task

from catalog.models import Service, ServiceState
from catalog.tasks import _health, _set_state
from compute.choices import Action
from compute.models import Flavor, Instance
from compute.services import instances as compute
from portal import operations
from portal.errors import ActionError
from portal.tasks import LONG_JOB, run_operation


def _vm(service):
    return Instance.objects.select_related("host", "flavor", "project").get(pk=service.instance_id)


def _cold(op, service, flavor):
    user = op.requester
    operations.progress(op, 10, "stopping the VM (PostgreSQL shuts down cleanly)")
    operations.run_inline(compute.stop, user, _vm(service))
    try:
        operations.progress(op, 40, f"resizing the stopped VM to {flavor.name}")
        operations.run_inline(compute.resize, user, _vm(service), flavor)
    except BaseException as exc:
        operations.progress(op, 50, f"the resize failed; starting the VM again on {service.flavor.name}")
        try:
            operations.run_inline(compute.act, user, _vm(service), Action.START)
        except Exception as again:
            _set_state(service, ServiceState.ERROR, f"resize to {flavor.name} failed and the VM did not start: {again}")
            raise ActionError(f"{exc}; and the VM did not start again: {again}") from exc
        raise
    operations.progress(op, 60, f"starting the VM on {flavor.name}")
    operations.run_inline(compute.act, user, _vm(service), Action.START)


@shared_task(bind=True, name="catalog.tasks.resize_service", **LONG_JOB)
def resize_service(self, op_id):
    def work(op):
        service = Service.objects.select_related("template", "instance__host", "flavor").get(pk=op.target_id)
        flavor = Flavor.objects.get(pk=op.detail["flavor"])
        started = time.monotonic()
        resized = False
        try:
            if op.detail.get("live"):
                operations.progress(op, 30, f"resizing the running VM to {flavor.name} (live)")
                operations.run_inline(compute.resize, op.requester, _vm(service), flavor)
            else:
                _cold(op, service, flavor)
            resized = True
        finally:  # whatever stopped the resize (a time limit too), the VM runs on its old flavor
            if not resized and service.state == ServiceState.RESIZING:
                _set_state(service, ServiceState.ACTIVE)
        Service.objects.filter(pk=service.pk).update(flavor=flavor)
        service.instance.refresh_from_db()
        operations.progress(op, 80, "waiting for the guest agent and PostgreSQL")
        reason = _health(service)
        _set_state(service, ServiceState.DEGRADED if reason else ServiceState.ACTIVE, reason)
        seconds = round(time.monotonic() - started, 1)
        op.detail = {**op.detail, "seconds": seconds}
        op.save(update_fields=["detail"])
        how = "live" if op.detail.get("live") else "cold: stopped, resized, started"
        after = f"; degraded: {reason}" if reason else ""
        return f"Service {service.name} resized to {flavor.name} ({how}) in {seconds:.1f} s{after}"

    return run_operation(op_id, work, self.request.id or "")
