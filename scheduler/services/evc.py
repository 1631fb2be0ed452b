"""EVC: a request for the cluster's CPU baseline; the task computes and stores it (tasks/evc.py)."""

from django.db import transaction

from portal import audit, operations
from portal.audit import actor
from scheduler.tasks import evc as evc_tasks


def request_evc(user, cluster, request=None):
    """Queue the computation of the cluster's CPU baseline from its hosts (an Operation)."""

    with transaction.atomic():
        op = operations.begin("cluster.evc_baseline", cluster, user=actor(user), project=None)
        operations.dispatch(evc_tasks.compute_evc, op)
    audit.record(user, "scheduler.evc", cluster, request=request)
    return op
