"""IMC/EVC on the compute side: instances present the cluster's CPU baseline, and a host that
cannot provide it cannot join."""

from lxml import etree

import hypervisor as hv
from compute.models import Host
from compute.services import instances as compute_services
from portal import operations
from tests.compute.conftest import node_uri


def set_baseline_from(cluster, host_uri):
    """The cluster's baseline is the named host's own CPU, as the scheduler's EVC task stores it."""
    xml = hv.host_cpu_xml(host_uri)
    cluster.cpu_baseline_xml = xml
    cluster.cpu_baseline_model = etree.fromstring(xml.encode()).findtext("model")
    cluster.save()


def domain_cpu(instance):
    root = etree.fromstring(hv.domain_xml(instance.host.uri, str(instance.uuid), inactive=True).encode())
    return root.find("cpu")


def test_an_instance_presents_the_cluster_baseline(cluster, launch):
    cluster.cpu_baseline_model = "Broadwell-noTSX"
    cluster.cpu_baseline_xml = "<cpu><model>Broadwell-noTSX</model><feature policy='require' name='vmx'/></cpu>"
    cluster.save()
    response, instance = launch()
    assert response.status_code == 202 and instance.state == "active"
    cpu = domain_cpu(instance)
    assert cpu.get("mode") == "custom" and cpu.get("match") == "exact"
    assert cpu.findtext("model") == "Broadwell-noTSX"
    assert [(f.get("name"), f.get("policy")) for f in cpu.iter("feature")] == [("vmx", "require")]


def test_without_a_baseline_an_instance_copies_its_host_cpu(cluster, launch):
    response, instance = launch()
    assert response.status_code == 202
    assert domain_cpu(instance).get("mode") == "host-model"


def test_a_host_that_cannot_provide_the_baseline_cannot_join(cluster, host_a, admin_user, run_tasks):
    set_baseline_from(cluster, host_a.uri)  # Cascadelake-Server: host-c (Broadwell) lacks features
    with run_tasks():
        host, op = compute_services.register_host(admin_user, name="host-c", uri=node_uri("host-c"), cluster=cluster)
    op = operations.reload(op.pk)
    host = Host.objects.get(pk=host.pk)
    assert op.status == "failed" and "cannot join" in op.error
    assert host.state == "error" and "CPU baseline" in host.state_reason


def test_a_host_that_provides_the_baseline_joins(cluster, host_a, admin_user, run_tasks):
    set_baseline_from(cluster, node_uri("host-c"))  # the oldest CPU: every host provides it
    with run_tasks():
        host, op = compute_services.register_host(admin_user, name="host-b", uri=node_uri("host-b"), cluster=cluster)
    assert operations.reload(op.pk).status == "succeeded"
    assert Host.objects.get(pk=host.pk).state == "up"
