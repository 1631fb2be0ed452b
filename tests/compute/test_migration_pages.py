"""The pages: a migration's detail (progress bar, remaining-memory chart, 'simulated'), the
cluster-wide list, and the live panels on the instance and host pages."""

import json
import re

import pytest
from django.test import Client

from compute.metrics import collector
from compute.models import Migration, MigrationState
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401


def client(user):
    c = Client()
    c.force_login(user)
    return c


def figure(html, element_id):
    return json.loads(re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)[1])


@pytest.fixture
def moved(run_tasks, running, hosts, baseline, admin_user, instant):
    from compute.services import migration as service

    with run_tasks():
        op = service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    return Migration.objects.get(operation=op)


def test_the_detail_page_draws_remaining_memory_and_says_simulated(alice, moved):
    html = client(alice).get(f"/compute/migrations/{moved.pk}/").content.decode()
    assert "badge simulated" in html and 'class="migration-progress"' in html
    assert f'data-group="compute.migration.{moved.pk}"' in html
    data = figure(html, "migration-chart-detail-figure")["data"][0]
    assert len(data["y"]) == len(moved.samples) and data["y"][-1] <= data["y"][0]


def test_the_list_shows_the_migration_to_its_tenant_only(alice, charlie, moved):
    assert f'data-migration="{moved.pk}"' in client(alice).get("/compute/migrations/").content.decode()
    assert f'data-migration="{moved.pk}"' not in client(charlie).get("/compute/migrations/").content.decode()
    assert client(charlie).get(f"/compute/migrations/{moved.pk}/").status_code == 404


def test_the_instance_page_has_live_charts_and_the_migration(alice, admin_user, moved):
    collector.collect_host(moved.target, publish=False)
    html = client(alice).get(f"/compute/instances/{moved.instance_id}/").content.decode()
    traces = json.loads(
        re.search(r'<script id="chart-instance-\d+-0-traces" type="application/json">(.*?)</script>', html, re.S)[1]
    )
    assert traces == [{"group": f"compute.instance.{moved.instance_id}", "id": moved.instance_id, "metric": "cpu_pct"}]
    assert "vendor/plotly/plotly.min.js" in html and 'id="instance-migration"' in html
    assert "Migrate</button>" not in html  # tenants see progress, not the form
    assert "Migrate</button>" in client(admin_user).get(f"/compute/instances/{moved.instance_id}/").content.decode()


def test_the_host_page_has_live_charts_and_evacuate(admin_user, moved):
    collector.collect_host(moved.target, publish=False)
    html = client(admin_user).get(f"/compute/hosts/{moved.target_id}/").content.decode()
    points = figure(html, f"chart-host-{moved.target_id}-2-figure")["data"][0]["y"]
    assert points == [1.0] and "Evacuate (maintenance)" in html


def test_cancel_from_the_page_is_for_cloud_admins(alice, admin_user, moved):
    moved.state = MigrationState.SUCCEEDED
    moved.save()
    assert client(alice).post(f"/compute/migrations/{moved.pk}/cancel/").status_code == 302  # to the admin login
    response = client(admin_user).post(f"/compute/migrations/{moved.pk}/cancel/", follow=True)
    assert "nothing to cancel" in response.content.decode()
