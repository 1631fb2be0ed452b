"""Pages show a state's human label ("Shut off"), the same word the lists show, and what the API
answers and the websocket publishes carries that label too, so a live update shows it as well."""

from django.test import Client

from compute.choices import InstanceState, PowerState
from compute.tasks import instances as tasks
from portal import operations
from tests.compute.test_console_panel import stopped
from tests.compute.test_vnc_proxy import local_host, make_instance


def page_of(user, instance):
    client = Client()
    client.force_login(user)
    return client.get(f"/compute/instances/{instance.pk}/").content.decode()


def test_the_instance_page_shows_the_states_label_not_its_value(alice, project_a, flavor, image):
    instance = stopped(make_instance(project_a, flavor, image, local_host()))
    instance.power_state = PowerState.SHUTOFF
    instance.save(update_fields=["power_state"])

    page = page_of(alice, instance)

    assert 'data-field="state" data-state="shutoff" id="instance-state">Shut off</span>' in page
    assert 'id="instance-power">Shut off</dd>' in page
    assert ">shutoff<" not in page


def test_the_api_gives_the_labels_beside_the_values(api, project_a, flavor, image):
    instance = stopped(make_instance(project_a, flavor, image, local_host()))

    body = api["alice"].get(f"/api/v1/instances/{instance.pk}/").json()

    assert (body["state"], body["state_label"]) == ("shutoff", "Shut off")
    assert (body["power_state"], body["power_state_label"]) == ("nostate", "No state")


def test_a_state_change_publishes_the_label_the_page_shows(project_a, flavor, image, monkeypatch):
    instance = make_instance(project_a, flavor, image, local_host(), port=5901)
    published = []
    monkeypatch.setattr(tasks.realtime, "publish", lambda group, event, data: published.append(data))
    monkeypatch.setattr(
        tasks.realtime, "publish_many", lambda messages: published.extend(data for group, event, data in messages)
    )

    tasks.set_state(instance, InstanceState.SHUTOFF, PowerState.SHUTOFF)

    assert (published[-1]["state_label"], published[-1]["power_state_label"]) == ("Shut off", "Shut off")


def test_an_operations_status_label_is_in_the_api_and_on_its_page(api, alice, project_a):
    op = operations.begin("test.thing", project_a, user=alice, project=project_a)

    body = api["alice"].get(f"/api/v1/operations/{op.pk}/").json()
    client = Client()
    client.force_login(alice)
    page = client.get(f"/operations/{op.pk}/").content.decode()

    assert (body["status"], body["status_label"]) == ("queued", "Queued")
    assert 'id="op-status">Queued</span>' in page
