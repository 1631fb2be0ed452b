"""An evacuation that wakes a standby host first says so: the API names the hosts being woken
and answers with the wake Operation; the host page shows it with a live progress bar."""

from django.test import Client

from portal.models import Operation
from tests.compute.live_helpers import baseline, instant  # noqa: F401
from tests.compute.test_host_maintenance_wakes import b_asleep  # noqa: F401

URL = "/api/v1/migrations/evacuate/"


def evacuate_without_tasks(api, launch, host):
    """Two instances on ``host`` and its evacuation; tasks not run, so the wake stays queued."""
    for n in range(2):
        launch(name=f"vm-{n}")
    return api["admin"].post(URL, {"host": host.pk}, format="json")


def test_the_evacuate_answer_names_the_hosts_woken_and_the_wake_operation(api, launch, hosts, b_asleep, baseline):
    response = evacuate_without_tasks(api, launch, hosts[0])

    assert response.status_code == 202, response.content
    body = response.json()
    wake = Operation.objects.get(kind="host.evacuation_wake")
    assert body["started"] == [] and body["waiting"] == 2
    assert body["waking"] == [b_asleep.name]
    assert body["wake"]["id"] == wake.pk and body["wake"]["url"] == f"/api/v1/operations/{wake.pk}/"
    assert body["wake"]["status"] == "queued" and body["wake"]["progress"] == 0


def test_an_evacuation_without_wakes_answers_no_wake(api, launch, hosts, baseline):
    response = evacuate_without_tasks(api, launch, hosts[0])

    assert response.status_code == 202
    assert response.json()["waking"] == [] and response.json()["wake"] is None


def test_the_host_page_shows_the_wake_and_follows_its_progress(api, launch, hosts, b_asleep, baseline, admin_user):
    evacuate_without_tasks(api, launch, hosts[0])
    wake = Operation.objects.get(kind="host.evacuation_wake")
    client = Client()
    client.force_login(admin_user)

    html = client.get(f"/compute/hosts/{hosts[0].pk}/").content.decode()

    section = html[html.index('id="evacuation-wake"') :]
    section = section[: section.index("</section>")]
    assert f"<strong>{b_asleep.name}</strong> (for 2 instances)" in section
    assert f'href="/operations/{wake.pk}/"' in section
    # The shared operation row: realtime.js updates its progress from the operation.<id> group.
    assert f'<tr data-operation="{wake.pk}">' in section and 'data-field="progress"' in section
    assert f'data-subscribe="operation.{wake.pk}"' in section


def test_the_host_page_has_no_wake_section_once_the_wake_ended(api, launch, hosts, b_asleep, baseline, admin_user):
    evacuate_without_tasks(api, launch, hosts[0])
    Operation.objects.filter(kind="host.evacuation_wake").update(status="succeeded")
    client = Client()
    client.force_login(admin_user)

    assert 'id="evacuation-wake"' not in client.get(f"/compute/hosts/{hosts[0].pk}/").content.decode()


def test_evacuating_from_the_host_page_names_the_wake_and_stays_there(launch, hosts, b_asleep, baseline, admin_user):
    for n in range(2):
        launch(name=f"vm-{n}")
    client = Client()
    client.force_login(admin_user)

    response = client.post(f"/compute/hosts/{hosts[0].pk}/evacuate/", {"batch": "2"}, follow=True)

    wake = Operation.objects.get(kind="host.evacuation_wake")
    assert response.redirect_chain[-1][0] == f"/compute/hosts/{hosts[0].pk}/"
    html = response.content.decode()
    assert f"waking {b_asleep.name} first (operation {wake.pk}); 2 migration(s) start once it is up" in html
    assert 'id="evacuation-wake"' in html
