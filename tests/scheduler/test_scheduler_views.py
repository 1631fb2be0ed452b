"""The scheduler's pages: staff see clusters, recommendations (and decide them), hosts'
power; tenants see only their server groups; settings forms keep the model's rules."""

import pytest
from django.test import Client

from scheduler import choices as c
from scheduler import snapshot
from scheduler.forms import SettingsForm
from scheduler.models import ServerGroup


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def imbalanced(hosts, make_instance):
    return [make_instance(hosts[0], f"web-{n}") for n in range(4)]


def test_the_section_lists_clusters_for_staff(admin_user, cluster, hosts):
    page = client_for(admin_user).get("/scheduler/")
    assert page.status_code == 200 and b"demo" in page.content


def test_tenants_see_only_their_server_groups(alice, project_a, project_b):
    ServerGroup.objects.create(project=project_a, name="ours", policy="affinity")
    ServerGroup.objects.create(project=project_b, name="theirs", policy="affinity")
    page = client_for(alice).get("/scheduler/")
    assert b"ours" in page.content and b"theirs" not in page.content
    assert client_for(alice).get("/scheduler/clusters/1/").status_code == 302  # to the admin login


def test_an_admin_runs_drs_and_approves_from_the_page(admin_user, cluster, imbalanced, fake_migrations, run_tasks):
    client = client_for(admin_user)
    client.post(f"/scheduler/clusters/{cluster.pk}/run/drs/")
    rec = cluster.recommendations.get()
    page = client.get(f"/scheduler/clusters/{cluster.pk}/")
    assert b"Approve" in page.content
    with run_tasks():
        client.post(f"/scheduler/recommendations/{rec.pk}/approve/")
    rec.refresh_from_db()
    assert rec.state == c.RecommendationState.APPLIED
    partial = client.get(f"/scheduler/clusters/{cluster.pk}/recommendations/")
    assert b"applied" in partial.content and b"hx-trigger" not in partial.content


def test_the_settings_form_refuses_a_crossed_dpm_range(admin_user, cluster):
    form = SettingsForm(instance=snapshot.settings_for(cluster))
    data = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in data.items() if value not in (None, False)}  # unchecked boxes
    data.update(dpm_target_low_pct=80, dpm_target_high_pct=50)
    page = client_for(admin_user).post(f"/scheduler/clusters/{cluster.pk}/", data)
    assert page.status_code == 200 and b"must be above" in page.content
