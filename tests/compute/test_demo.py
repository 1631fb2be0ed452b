"""The demo seed gives a usable cluster: hosts with facts, flavors, an image."""

import io

from compute import demo
from compute.models import Flavor, Host, Image


def test_the_demo_seed_makes_a_cluster_where_an_instance_can_launch(db, api, run_tasks):
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())  # seeding twice changes nothing
    assert set(Host.objects.values_list("name", flat=True)) >= {"host-a", "host-b", "host-c"}
    assert all(h.state == "up" and h.simulated and h.cpus for h in Host.objects.all())
    assert Flavor.objects.filter(cpu_policy="dedicated", numa_nodes=2).exists()
    payload = {
        "name": "demo-vm",
        "flavor": Flavor.objects.get(name="p1.numa").pk,
        "image": Image.objects.get(name="cirros-demo").pk,
    }
    with run_tasks():
        response = api["alice"].post("/api/v1/instances/", payload, format="json")
    assert response.status_code == 202
    from portal.models import Operation

    assert Operation.objects.get(pk=response.json()["id"]).status == "succeeded"
