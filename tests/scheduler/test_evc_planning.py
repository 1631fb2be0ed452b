"""DRS plans only moves compute's migration pre-check accepts: a host libvirt found unable to
run the cluster CPU baseline is never a target."""

from compute.models import Instance
from compute.services import migration
from scheduler import choices as c
from scheduler.models import ClusterSchedulerSettings
from scheduler.services import evc, recommendations


def test_drs_never_moves_an_instance_to_a_host_that_cannot_run_the_cluster_baseline(
    cluster, hosts, make_instance, admin_user, run_tasks
):
    host_a, host_b, host_c = hosts
    recommendations.update_settings(admin_user, cluster, evc_mode=c.EvcMode.NAMED, evc_model="Cascadelake-Server")
    with run_tasks():
        evc.request_evc(admin_user, cluster)  # host-b and host-c cannot provide it
    for n in range(4):
        make_instance(host_b, f"web-{n}")

    assert ClusterSchedulerSettings.objects.get(cluster=cluster).evc_incompatible_hosts == sorted(
        [host_b.pk, host_c.pk]
    )
    rec = recommendations.run_drs(cluster).recommendation

    assert rec is not None and rec.moves
    assert {m["target_name"] for m in rec.moves} == {"host-a"}
    for move in rec.moves:
        instance = Instance.objects.select_related("host__cluster").get(pk=move["instance"])
        migration.check_cpu(instance, host_a)  # compute's pre-check accepts every planned move
