"""A managed database's configuration parameters on simulated hosts with the guest agent faked
(the config-set script itself, ALTER SYSTEM and the reload or restart, runs in the lab tier):
the allow-list as config-set's argument schema (typed, ranged), the API's configuration
endpoint and the page's Configuration tab, a reload or a restart said in the Operation, and the
refusals: 400 per parameter with nothing run in the guest, 403 for readers, 404 for others."""

import pytest

from catalog import lab as catalog_lab
from catalog.models import ServiceTemplate
from portal.models import Operation

from .test_catalog_backups import FakeAgent, install, ordered_with
from .test_catalog_backups import db_template as db_template  # noqa: F401  (fixtures)
from .test_catalog_backups import order as order  # noqa: F401
from .test_catalog_backups import pages as pages  # noqa: F401
from .test_catalog_backups import pool as pool  # noqa: F401

CONFIG_ACTIONS = {name: catalog_lab.POSTGRES_ACTIONS[name] for name in ("config-show", "config-set")}
SETTINGS = [
    {"name": "max_connections", "value": "100", "setting": "100", "unit": None, "context": "postmaster",
     "source": "configuration file", "pending_restart": False},
    {"name": "work_mem", "value": "8MB", "setting": "8192", "unit": "kB", "context": "user",
     "source": "configuration file", "pending_restart": False},
]  # fmt: skip


class ConfigAgent(FakeAgent):
    def answer(self, script):
        if script == "config-show":
            return {"settings": SETTINGS}
        if script == "config-set":
            arguments = self.calls[-1][2]
            restart_for = sorted(k for k in arguments if k in ("max_connections", "shared_buffers"))
            return {
                "applied": arguments,
                "restarted": bool(restart_for),
                "restart_for": restart_for,
                "reloaded": not restart_for,
                "seconds": 0.2,
                "settings": SETTINGS,
            }
        return super().answer(script)


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, ConfigAgent())


@pytest.fixture
def service(order, db_template):  # noqa: F811
    return ordered_with(order, db_template, actions=CONFIG_ACTIONS)


def configure(api, run_tasks, service, body, user="alice"):
    with run_tasks():
        return api[user].post(f"/api/v1/services/{service.pk}/configuration/", body, format="json")


def test_a_reloadable_parameter_is_set_and_the_operation_says_reloaded(api, run_tasks, service, agent):
    before = len(agent.calls)
    response = configure(api, run_tasks, service, {"work_mem": 8, "log_min_duration_statement": 250})
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.action.config-set" and op.status == "succeeded", op.error
    assert "reloaded, no restart" in op.message and op.detail["output"]["restarted"] is False
    # The script got the values as JSON; the page's listing is read again after the change.
    assert agent.calls[before:] == [
        (str(service.instance.uuid), "config-set", {"work_mem": 8, "log_min_duration_statement": 250}),
        (str(service.instance.uuid), "config-show", {}),
    ]
    shown = api["alice"].get(f"/api/v1/services/{service.pk}/configuration/").json()
    assert {row["name"]: row["value"] for row in shown["settings"]}["work_mem"] == "8MB" and shown["at"]
    assert shown["parameters"]["properties"]["max_connections"] == {
        "type": "integer",
        "title": "max_connections",
        "minimum": 10,
        "maximum": 1000,
        "description": "Changing it restarts PostgreSQL",
    }


def test_a_parameter_that_needs_it_restarts_the_server_and_the_operation_shows_it(api, run_tasks, service, agent):
    op = Operation.objects.get(pk=configure(api, run_tasks, service, {"max_connections": 150}).json()["id"])
    assert op.status == "succeeded" and "the server restarted (for max_connections)" in op.message, op.message
    assert op.detail["arguments"] == {"max_connections": 150}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fsync": False}, "fsync"),  # off the allow-list
        ({"work_mem": 8, "archive_command": "rm -rf /"}, "archive_command"),
        ({"work_mem": 0}, "work_mem"),  # out of range
        ({"max_connections": 100000}, "max_connections"),
        ({"work_mem": "8; rm"}, "work_mem"),  # wrong type
        ({"log_connections": "yes"}, "log_connections"),
        ({"work_mem": True}, "work_mem"),
        ({}, "non_field_errors"),  # nothing to set
    ],
)
def test_a_disallowed_or_bad_parameter_is_a_400_per_field_and_nothing_runs(api, run_tasks, service, agent, body, field):
    before, operations = len(agent.calls), Operation.objects.count()
    response = configure(api, run_tasks, service, body)
    assert response.status_code == 400 and field in response.json(), response.content
    assert len(agent.calls) == before and Operation.objects.count() == operations


def test_the_generic_action_route_refuses_the_same_way(api, run_tasks, service, agent):
    before = len(agent.calls)
    with run_tasks():
        response = api["alice"].post(
            f"/api/v1/services/{service.pk}/run/",
            {"action": "config-set", "arguments": {"shared_preload_libraries": "x"}},
            format="json",
        )
    assert response.status_code == 400 and "shared_preload_libraries" in str(response.json())
    assert len(agent.calls) == before


def test_readers_read_the_configuration_but_only_members_set_it_outsiders_see_nothing(api, run_tasks, service, agent):
    configure(api, run_tasks, service, {"work_mem": 8})
    assert api["bob"].get(f"/api/v1/services/{service.pk}/configuration/").status_code == 200
    before = len(agent.calls)
    assert configure(api, run_tasks, service, {"work_mem": 16}, user="bob").status_code == 403
    assert configure(api, run_tasks, service, {"fsync": False}, user="bob").status_code == 403  # 403 before 400
    assert configure(api, run_tasks, service, {"work_mem": 16}, user="charlie").status_code == 404
    assert api["charlie"].get(f"/api/v1/services/{service.pk}/configuration/").status_code == 404
    assert len(agent.calls) == before


def test_a_template_without_config_set_has_no_configuration(api, run_tasks, agent, hosts, template, flavor):
    with run_tasks():
        response = api["alice"].post(
            "/api/v1/services/",
            {"name": "plain", "template": template.pk, "flavor": flavor.pk, "parameters": {"version": "15"}},
            format="json",
        )
    service_id = Operation.objects.get(pk=response.json()["id"]).target_id
    assert api["alice"].get(f"/api/v1/services/{service_id}/configuration/").status_code == 404
    page = api["alice"].get(f"/catalog/services/{service_id}/?tab=configuration")
    assert 'id="tab-configuration"' not in page.content.decode()


def test_the_configuration_tab_lists_the_values_and_its_form_refuses_a_bad_one(pages, api, run_tasks, service, agent):
    configure(api, run_tasks, service, {"work_mem": 8})
    url = f"/catalog/services/{service.pk}/?tab=configuration"
    page = pages["alice"].get(url).content.decode()
    assert 'id="tab-configuration"' in page and 'data-name="work_mem" data-value="8MB"' in page
    assert 'id="action-config-set"' in page and "after a restart" in page
    reader = pages["bob"].get(url).content.decode()
    assert 'data-name="work_mem"' in reader and 'id="action-config-set"' not in reader
    before = len(agent.calls)
    with run_tasks():
        refused = pages["alice"].post(
            f"/catalog/services/{service.pk}/run/config-set/",
            {"tab": "configuration", "config-set-work_mem": "0"},
        )
    assert refused.status_code == 400 and len(agent.calls) == before
    with run_tasks():
        done = pages["alice"].post(
            f"/catalog/services/{service.pk}/run/config-set/",
            {"tab": "configuration", "config-set-work_mem": "16"},
        )
    assert done.status_code == 302 and agent.calls[before][1:] == ("config-set", {"work_mem": 16})


def test_the_lab_templates_allow_list_is_the_images(db, image, flavor):
    # catalog.lab's schema and the image's nubes_agent.PARAMETERS name the same parameters and ranges.
    import importlib.util
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.BASE_DIR) / "lab" / "service-guest" / "nubes-agent" / "nubes_agent.py"
    spec = importlib.util.spec_from_file_location("nubes_agent_for_test", path)
    agent_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent_module)
    schema = catalog_lab.POSTGRES_ACTIONS["config-set"]["arguments"]
    assert set(schema["properties"]) == set(agent_module.PARAMETERS)
    for name, (kind, _unit, low, high) in agent_module.PARAMETERS.items():
        spec_ = schema["properties"][name]
        assert (spec_["type"], spec_.get("minimum"), spec_.get("maximum")) == (kind, low, high), name
    template = ServiceTemplate(
        name="pg",
        image=image,
        parameter_schema=catalog_lab.postgres_parameters("15"),
        actions=catalog_lab.POSTGRES_ACTIONS,
        hooks=catalog_lab.POSTGRES_HOOKS,
    )
    template.full_clean()
    assert {"config-set", "config-show"} <= template.allowed_scripts()
