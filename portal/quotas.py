"""Quota accounting. Taking units is one conditional UPDATE per resource inside the caller's
transaction, so two concurrent requests can never both take the last unit, on SQLite or
PostgreSQL alike; a failure rolls the whole transaction back, including units already taken."""

from django.db import transaction
from django.db.models import F

from portal.choices import QuotaResource
from portal.models import Quota


class QuotaExceeded(Exception):
    def __init__(self, resource, requested, limit, in_use):
        self.resource, self.requested, self.limit, self.in_use = resource, requested, limit, in_use
        label = QuotaResource(resource).label
        super().__init__(f"Quota exceeded for {label}: requested {requested}, {in_use} of {limit} in use.")


def take(project, **amounts):
    """Take units, e.g. take(project, instances=1, vcpus=2). Must run inside a transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quotas.take must run inside transaction.atomic()")
    for resource, amount in amounts.items():
        if amount <= 0:
            continue
        updated = Quota.objects.filter(project=project, resource=resource, in_use__lte=F("limit") - amount).update(
            in_use=F("in_use") + amount
        )
        if not updated:
            quota = Quota.objects.filter(project=project, resource=resource).first()
            if quota is None:
                raise QuotaExceeded(resource, amount, 0, 0)
            raise QuotaExceeded(resource, amount, quota.limit, quota.in_use)


def give_back(project, **amounts):
    """Return units. Never drops below zero, so a double release cannot corrupt the count."""
    for resource, amount in amounts.items():
        if amount <= 0:
            continue
        Quota.objects.filter(project=project, resource=resource, in_use__gte=amount).update(in_use=F("in_use") - amount)


def usage(project):
    Quota.ensure_defaults(project)
    return {q.resource: {"limit": q.limit, "in_use": q.in_use} for q in Quota.objects.filter(project=project)}


_counters = {}


def register_counter(resource, count):
    """Apps register count(project) -> units in use, used by the recount operation."""
    _counters[resource] = count


def counters():
    return dict(_counters)


def set_usage(project, resource, in_use):
    Quota.ensure_defaults(project)
    Quota.objects.filter(project=project, resource=resource).update(in_use=max(0, in_use))
