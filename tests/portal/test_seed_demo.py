"""The demo seed: never into a database with real hosts unless asked, never onto real hosts, and
nothing left queued behind it (its operations run in the seed's own process)."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from compute.models import Cluster, Host
from network.models import Network, Subnet
from portal.choices import OperationStatus
from portal.models import Operation, Project

# Nothing answers on port 1: a seed that touched this host would fail.
REAL_URI = "qemu+tcp://127.0.0.1:1/system"


@pytest.fixture
def real_host(db):
    rack = Cluster.objects.create(name="rack1")
    return Host.objects.create(name="rack1-node7", uri=REAL_URI, state="up", cluster=rack)


def seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def nothing_seeded():
    return (
        not get_user_model().objects.exists()
        and not Project.objects.exists()
        and list(Host.objects.values_list("name", flat=True)) == ["rack1-node7"]
        and not Operation.objects.exists()
    )


def test_the_seed_refuses_a_database_with_real_hosts(real_host):
    with pytest.raises(CommandError, match=r"real hosts \(rack1-node7 qemu\+tcp://127.0.0.1:1/system\).*--force"):
        seed()
    assert nothing_seeded()


def test_make_runs_seed_says_why_and_goes_on(real_host):
    out = seed("--if-no-real-hosts")
    assert "Not seeding the demo: this database has real hosts (rack1-node7" in out
    assert nothing_seeded()


def test_a_forced_seed_keeps_its_networks_off_the_real_host(real_host):
    seed("--force")
    assert Host.objects.filter(uri__startswith="test:///").count() >= 2
    assert Network.objects.count() == 2
    # realised on the simulated hosts only: the real host (unreachable) would have failed them
    assert set(Network.objects.values_list("state", flat=True)) == {"active"}
    assert set(Subnet.objects.values_list("state", flat=True)) == {"active"}
    assert set(Operation.objects.values_list("status", flat=True)) == {OperationStatus.SUCCEEDED}


def test_the_seed_leaves_no_operation_queued_and_every_object_active(db):
    out = seed()
    assert "Demo seeded." in out
    ops = list(Operation.objects.values_list("kind", "status"))
    assert ops and all(status == OperationStatus.SUCCEEDED for _, status in ops), ops
    assert {n.project.name: n.state for n in Network.objects.select_related("project")} == {
        "acme": "active",
        "globex": "active",
    }
    assert set(Subnet.objects.values_list("state", flat=True)) == {"active"}
    assert seed() == "Demo already seeded.\n"


def test_make_lab_signs_in_without_the_demo(real_host, settings):
    """`make lab` no longer seeds the demo: lab_register makes the cloud admin it records for."""
    from portal.management.commands.lab_register import Command

    out = io.StringIO()
    admin = Command(stdout=out).cloud_admin("admin")
    assert admin.is_staff and admin.check_password(settings.NUBES_DEMO_PASSWORD)
    assert "cloud admin 'admin' created" in out.getvalue()
    assert Command(stdout=io.StringIO()).cloud_admin("admin") == admin  # found, not made twice
    assert "Not seeding the demo" in seed("--if-no-real-hosts")  # the admin alone is no demo
    get_user_model().objects.create_user("tenant")
    with pytest.raises(CommandError, match="'tenant' is not a cloud admin"):
        Command(stdout=io.StringIO()).cloud_admin("tenant")
