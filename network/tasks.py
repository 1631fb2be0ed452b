"""Celery tasks: primary keys in, reload, call one service verb, record the outcome."""

import logging

from celery import shared_task
from django.apps import apps

from network.backends.base import BackendError
from network.services import common, status
from network.services import sync as sync_service
from portal.choices import ACTIVE_STATUSES
from portal.models import Operation
from portal.tasks import run_operation


def _load(label, pk):
    return apps.get_model(label).objects.filter(pk=pk).first()


@shared_task(bind=True)
def realise(self, op_id, label, pk):
    def work(op):
        obj = _load(label, pk)
        if obj is None:
            return "Nothing to do: the object is gone."
        return common.realise_object(obj, op)

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True)
def remove(self, op_id, label, pk):
    def work(op):
        obj = _load(label, pk)
        if obj is None:
            return "Already removed."
        return common.remove_object(obj, op)

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True)
def sync(self, op_id):
    def work(op):
        message, detail = sync_service.run_sync(clean_orphans=op.detail.get("clean_orphans", False))
        op.detail = {**op.detail, **detail}
        op.save(update_fields=["detail"])
        return message

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True)
def remove_port_group(self, op_id, name):
    """A deleted project's default security group: its port group leaves the backend."""
    return run_operation(op_id, lambda op: common.remove_port_group(name), self.request.id or "")


@shared_task
def sync_periodic():
    """Beat: one sync at a time (a running one makes this a no-op)."""

    if Operation.objects.filter(kind=sync_service.SYNC_KIND, status__in=ACTIVE_STATUSES).exists():
        return None
    return sync_service.start_sync().pk


@shared_task
def port_status_periodic():
    """Beat: ports' up/down (one NB read, changes published) and load balancer members'
    health (one SB read) from OVN."""

    try:
        return status.refresh_port_status() + status.refresh_member_status()
    except BackendError as exc:  # OVN down: the next beat tries again; the sync reports it
        logging.getLogger(__name__).warning("port status: %s", exc)
        return None
