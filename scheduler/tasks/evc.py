"""EVC: the task that computes a cluster's CPU baseline from its hosts (libvirt's baseline and
comparison) and stores it."""

from celery import shared_task
from lxml import etree

import hypervisor as hv
from compute.choices import HostState
from compute.models import Cluster, Host
from portal.errors import ActionError
from portal.tasks import run_operation
from scheduler import choices as c
from scheduler import snapshot

CPU_INCOMPATIBLE = "incompatible"


def named_cpu_xml(model):
    cpu = etree.Element("cpu", mode="custom", match="exact")
    etree.SubElement(cpu, "model", fallback="forbid").text = model
    return etree.tostring(cpu, encoding="unicode")


@shared_task(bind=True, name="scheduler.tasks.compute_evc")
def compute_evc(self, op_id):
    def work(op):
        cluster = Cluster.objects.get(pk=op.target_id)
        settings = snapshot.settings_for(cluster)
        hosts = list(Host.objects.filter(cluster=cluster).exclude(state__in=(HostState.DOWN, HostState.ERROR)))
        if not hosts:
            raise ActionError(f"Cluster {cluster.name} has no reachable host to compute a CPU baseline from.")
        if settings.evc_mode == c.EvcMode.NAMED:
            xml = named_cpu_xml(settings.evc_model)
        else:
            xml = hv.cpu_baseline(hosts[0].uri, [hv.host_cpu_xml(h.uri) for h in hosts])
        model = etree.fromstring(xml.encode()).findtext("model") or ""
        blocked = [h for h in hosts if hv.cpu_compare(h.uri, xml) == CPU_INCOMPATIBLE]
        store_baseline(cluster, model, xml, blocked)
        blocking = sorted(h.name for h in blocked)
        note = f"; cannot provide it: {', '.join(blocking)}" if blocking else ""
        return f"CPU baseline {model or '(custom)'} from {len(hosts)} host(s){note}"

    return run_operation(op_id, work, self.request.id or "")


def store_baseline(cluster, model, xml, incompatible=()):
    """Write the baseline on compute's Cluster (its EVC fields) and remember the hosts libvirt
    found unable to run it: planning never sends an instance there (snapshot.py)."""
    type(cluster).objects.filter(pk=cluster.pk).update(cpu_baseline_model=model, cpu_baseline_xml=xml)
    cluster.cpu_baseline_model, cluster.cpu_baseline_xml = model, xml
    settings = snapshot.settings_for(cluster)
    settings.evc_incompatible_hosts = sorted(h.pk for h in incompatible)
    settings.save(update_fields=["evc_incompatible_hosts", "updated"])
    return settings.evc_incompatible_hosts
