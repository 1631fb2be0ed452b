"""The demo's live migration from the instance page's migrate form, with the defaults it ships:
the demo cluster has a CPU baseline (EVC) and its image's root disks sit on a pool every demo
host sees, so the move needs neither a CPU choice nor copy-storage, and auto-converge is on."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from compute.forms import MigrateForm
from compute.models import Cluster, Flavor, Image, Instance, Migration
from tests.compute.live_helpers import instant  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=io.StringIO())
    return Cluster.objects.get(name="demo")


def form_defaults(instance):
    """What the migrate form posts when nothing is touched."""
    data = {}
    for field in MigrateForm(instance=instance):
        value = field.value()
        if value not in (None, "", False):
            data[field.name] = "on" if value is True else value
    return data


def launch(run_tasks, flavor):
    alice = get_user_model().objects.get(username="alice")
    client = Client()
    client.force_login(alice)
    payload = {"name": f"demo-{flavor}", "flavor": Flavor.objects.get(name=flavor).pk}
    payload["image"] = Image.objects.get(name="cirros-demo").pk
    with run_tasks():
        response = client.post("/api/v1/instances/", payload, content_type="application/json")
    assert response.status_code == 202, response.content
    return Instance.objects.select_related("host").get(pk=response.json()["target_id"])


def migrate_from_the_form(run_tasks, instance, **choices):
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    with run_tasks():
        response = admin.post(f"/compute/instances/{instance.pk}/migrate/", {**form_defaults(instance), **choices})
    refusals = re.findall(r'class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    assert response.status_code == 302, refusals
    instance.refresh_from_db()
    return Migration.objects.select_related("operation", "target").order_by("-pk").first()


def test_the_demo_ships_a_baseline_and_a_shared_root_pool(demo):
    assert demo.cpu_baseline_model and demo.cpu_baseline_xml
    assert Image.objects.get(name="cirros-demo").pool == "shared"


def test_the_demo_instance_moves_live_to_every_other_host_with_the_form_defaults(demo, run_tasks, instant):
    instance = launch(run_tasks, "m1.small")
    defaults = form_defaults(instance)
    assert defaults.get("copy_storage") is None and defaults["live"] == "1" and defaults["auto_converge"] == "on"
    others = list(demo.hosts.exclude(pk=instance.host_id).order_by("name"))
    assert len(others) >= 2
    for target in others:  # each target picked in the form
        migration = migrate_from_the_form(run_tasks, instance, target_host=target.pk)
        assert migration.operation.status == "succeeded", migration.operation.error
        assert instance.host == target and instance.state == "active"
        assert not migration.options.get("copy_storage")
    migration = migrate_from_the_form(run_tasks, instance)  # the scheduler's choice
    assert migration.operation.status == "succeeded", migration.operation.error
    assert instance.host == migration.target and instance.state == "active"


def test_the_form_says_beside_a_target_why_a_move_there_may_be_refused(demo, run_tasks):
    instance = launch(run_tasks, "m1.small")
    labels = lambda: [label for _, label in MigrateForm(instance=instance).fields["target_host"].choices][1:]  # noqa: E731
    others = sorted(demo.hosts.exclude(pk=instance.host_id).values_list("name", flat=True))
    assert labels() == others  # the shipped demo: nothing to say
    Cluster.objects.filter(pk=demo.pk).update(cpu_baseline_xml="", cpu_baseline_model="")
    Image.objects.filter(name="cirros-demo").update(pool="default")
    instance.refresh_from_db()
    for label, name in zip(labels(), others, strict=True):
        assert label.startswith(f"{name} (") and "no cluster CPU baseline" in label
        assert f"no pool default shared with {instance.host.name}: needs copy storage" in label


def test_the_largest_demo_guest_converges_with_the_form_defaults(demo):
    """The simulated pre-copy with what the form sends by default (no bandwidth limit, QEMU's
    downtime, auto-converge) for the biggest demo flavor at the fastest dirty rate the model
    gives a guest (4 % of its memory a second): it converges; without auto-converge it would not."""
    from hypervisor import migration as model

    biggest = Flavor.objects.filter(project=None).order_by("-ram_mb").first()
    memory = biggest.ram_mb * model.MIB
    fastest = memory * 0.04
    link = model.SIMULATED_BANDWIDTH_MIB_S * model.MIB
    rounds = model.precopy_rounds(memory, link, fastest, model.QEMU_DEFAULT_DOWNTIME_MS, auto_converge=True)
    assert rounds[-1][0] <= link * model.QEMU_DEFAULT_DOWNTIME_MS / 1000
    with pytest.raises(model.OperationFailed, match="does not converge"):
        model.precopy_rounds(memory, link, fastest, model.QEMU_DEFAULT_DOWNTIME_MS, auto_converge=False)
