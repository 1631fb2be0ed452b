"""EVC: the cluster's CPU baseline, computed by a task from its hosts and stored here."""

from django.db import transaction

from portal import audit, operations
from scheduler import snapshot, tasks
from scheduler.services.common import actor


def request_evc(user, cluster, request=None):
    """Queue the computation of the cluster's CPU baseline from its hosts (an Operation)."""

    with transaction.atomic():
        op = operations.begin("cluster.evc_baseline", cluster, user=actor(user), project=None)
        operations.dispatch(tasks.compute_evc, op)
    audit.record(user, "scheduler.evc", cluster, request=request)
    return op


def store_baseline(cluster, model, xml, incompatible=()):
    """Write the baseline on compute's Cluster (its EVC fields) and remember the hosts libvirt
    found unable to run it: planning never sends an instance there (snapshot.py)."""
    type(cluster).objects.filter(pk=cluster.pk).update(cpu_baseline_model=model, cpu_baseline_xml=xml)
    cluster.cpu_baseline_model, cluster.cpu_baseline_xml = model, xml
    settings = snapshot.settings_for(cluster)
    settings.evc_incompatible_hosts = sorted(h.pk for h in incompatible)
    settings.save(update_fields=["evc_incompatible_hosts", "updated"])
    return settings.evc_incompatible_hosts
