"""`make run` on a fresh machine: the commands it runs (migrate, seed_demo, runportal) in a fresh
data directory leave no failed, queued or running operation and every seeded object active.
(The seed used to queue its networks' tasks on an in-memory queue that died with it; the portal
then marked them interrupted and the networks stayed pending.)"""

import json

from tests.browser.conftest import portal_environment, run_shell, serve_portal

REPORT = """
import json
from compute.models import Host
from network.models import Network, Subnet
from portal.models import Operation
from storage.models import StoragePool
print(json.dumps({
    "operations": [[o.kind, o.target_name, o.status, o.message] for o in Operation.objects.order_by("pk")],
    "hosts": sorted({h.state for h in Host.objects.all()}),
    "pools": sorted({p.state for p in StoragePool.objects.all()}),
    "networks": sorted({n.state for n in Network.objects.all()}),
    "subnets": sorted({s.state for s in Subnet.objects.all()}),
    "counts": [Host.objects.count(), StoragePool.objects.count(), Network.objects.count(), Subnet.objects.count()],
}))
"""


def test_a_first_run_shows_no_failed_operation_and_every_seeded_object_active(tmp_path):
    env = portal_environment(tmp_path)
    portal = serve_portal(env)
    next(portal)  # migrated, seeded and answering /healthz
    try:
        report = json.loads(run_shell(env, REPORT))
        log = (tmp_path / "portal.log").read_text()
    finally:
        portal.close()
    assert "marked failed" not in log, log
    ops = report["operations"]
    assert ops, "the seed ran no operation at all"
    assert [o for o in ops if o[2] != "succeeded"] == [], ops
    assert report["hosts"] == ["up"] and report["pools"] == ["active"]
    assert report["networks"] == ["active"] and report["subnets"] == ["active"]
    hosts, pools, networks, subnets = report["counts"]
    assert hosts >= 2 and pools == hosts + 1 and networks == 2 and subnets == 2  # + the shared pool
