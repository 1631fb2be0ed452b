"""EVC: the cluster CPU baseline from the hosts' CPU definitions (libvirt's baseline over
the demo's simulated hosts), or a named model, and the hosts that cannot provide it."""

from scheduler import choices as c
from scheduler.services import evc, recommendations


def test_the_baseline_of_the_demo_hosts_is_the_oldest_model(cluster, hosts, admin_user, run_tasks):
    # host-a Cascadelake-Server, host-b Skylake-Server, host-c Broadwell-noTSX
    with run_tasks():
        op = evc.request_evc(admin_user, cluster)
    op.refresh_from_db()
    assert op.status == "succeeded", op.message
    cluster.refresh_from_db()
    assert cluster.cpu_baseline_model == "Broadwell-noTSX"
    assert "<model" in cluster.cpu_baseline_xml
    assert "cannot provide" not in op.message


def test_a_named_model_newer_than_a_host_names_the_hosts_that_block_it(cluster, hosts, admin_user, run_tasks):
    recommendations.update_settings(admin_user, cluster, evc_mode=c.EvcMode.NAMED, evc_model="Cascadelake-Server")
    with run_tasks():
        op = evc.request_evc(admin_user, cluster)
    op.refresh_from_db()
    assert op.status == "succeeded", op.message
    assert "cannot provide it: host-b, host-c" in op.message
    cluster.refresh_from_db()
    assert cluster.cpu_baseline_model == "Cascadelake-Server"


def test_a_cluster_without_hosts_has_no_baseline(cluster, admin_user, run_tasks):
    with run_tasks():
        op = evc.request_evc(admin_user, cluster)
    op.refresh_from_db()
    assert op.status == "failed" and "no reachable host" in op.message
