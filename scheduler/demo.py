"""Demo data: the demo cluster's CPU baseline (EVC), computed from its hosts as an admin's
request would, so its instances present a CPU every demo host can run and move live between
them (host-a's Cascadelake has features host-b's Skylake and host-c's Broadwell lack)."""

from django.contrib.auth import get_user_model

from compute.models import Cluster
from portal import operations
from scheduler.services import evc

CLUSTER = "demo"  # compute's demo cluster


def seed(stdout):
    admin = get_user_model().objects.filter(is_staff=True).order_by("pk").first()
    cluster = Cluster.objects.filter(name=CLUSTER).first()
    if admin is None or cluster is None or cluster.cpu_baseline_xml:
        return
    # Run here: the seed's process has no worker, and its in-memory queue dies with it.
    operations.run_inline(evc.request_evc, admin, cluster)
    cluster.refresh_from_db()
    stdout.write(f"Cluster {CLUSTER}: CPU baseline {cluster.cpu_baseline_model} (EVC).")
