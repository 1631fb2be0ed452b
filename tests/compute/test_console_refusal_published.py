"""The instance's state, as the API answers and the websocket publishes it, says whether its
graphical console can open (console_refusal): the instance page's panel follows it live."""

from compute.choices import InstanceState, PowerState
from compute.tasks import instances as tasks
from tests.compute.test_console_panel import stopped
from tests.compute.test_vnc_proxy import local_host, make_instance


def test_the_api_says_why_a_stopped_instance_has_no_console(api, project_a, flavor, image):
    instance = stopped(make_instance(project_a, flavor, image, local_host()))

    body = api["alice"].get(f"/api/v1/instances/{instance.pk}/").json()

    assert (
        body["console_refusal"] == f"Instance {instance.name} is shut off; its graphical console opens while it runs."
    )


def test_a_start_publishes_no_refusal_once_the_vnc_port_is_known(project_a, flavor, image, monkeypatch):
    instance = stopped(make_instance(project_a, flavor, image, local_host()))
    published = []
    monkeypatch.setattr(tasks.realtime, "publish", lambda group, event, data: published.append((group, data)))
    monkeypatch.setattr(
        tasks.realtime,
        "publish_many",
        lambda messages: published.extend((group, data) for group, event, data in messages),
    )

    instance.vnc_port = 5901  # what record_vnc_port writes before the state
    tasks.set_state(instance, InstanceState.ACTIVE, PowerState.RUNNING)

    mine = [data for group, data in published if group == f"compute.instance.{instance.pk}"]
    assert mine and mine[-1]["state"] == "active" and mine[-1]["console_refusal"] is None


def test_a_stop_publishes_the_refusal(project_a, flavor, image, monkeypatch):
    instance = make_instance(project_a, flavor, image, local_host(), port=5901)
    published = []
    monkeypatch.setattr(tasks.realtime, "publish", lambda group, event, data: published.append(data))
    monkeypatch.setattr(
        tasks.realtime, "publish_many", lambda messages: published.extend(data for group, event, data in messages)
    )

    tasks.set_state(instance, InstanceState.SHUTOFF, PowerState.SHUTOFF)

    assert "opens while it runs" in published[-1]["console_refusal"]
