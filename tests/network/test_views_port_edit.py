"""The port edit form: name, admin state, port security and the project's security groups,
through update_port to a real OVN NB; another project's groups are no choice."""

from types import SimpleNamespace

import pytest

from network import services
from network.models import Port
from tests.network.conftest import choices, signed_in


@pytest.fixture
def mine(nb, alice, project_a, run_tasks):
    """Alice's port (in her default group) and a second group of hers."""
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
        web_group, _ = services.create_security_group(alice, project_a, name="web-in")
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network, name="db")
    return SimpleNamespace(
        port=port, default=port.security_groups.get(), web_group=web_group, url=f"/network/ports/{port.pk}/edit/"
    )


@pytest.fixture
def their_group(nb, charlie, project_b, run_tasks):
    with run_tasks():
        group, _ = services.create_security_group(charlie, project_b, name="theirs")
    return group


def uuids(value):
    """The row ids in an OVSDB set or single reference."""
    return {ref[1] for ref in value[1]} if value[0] == "set" else {value[1]}


def in_port_group(nb, port, group):
    [lsp] = nb.rows("Logical_Switch_Port", name=port.interface_id)
    [pg] = nb.rows("Port_Group", name=group.port_group_name)
    return lsp["_uuid"][1] in uuids(pg["ports"])


def groups_of(port):
    return set(Port.objects.get(pk=port.pk).security_groups.all())


def test_the_form_offers_only_the_projects_groups(browser, mine, their_group):
    page = browser.get(mine.url).content.decode()
    assert choices(page, "edit-form", "security_groups") == {mine.default.pk, mine.web_group.pk}
    assert 'value="db"' in page and 'name="admin_state_up" id="id_admin_state_up" checked' in page
    assert f'data-edit="{mine.port.pk}"' in browser.get("/network/ports/").content.decode()


def test_editing_a_port_reaches_ovn(browser, mine, nb, run_tasks):
    with run_tasks():
        response = browser.post(
            mine.url, {"name": "db-1", "port_security": "on", "security_groups": [mine.web_group.pk]}
        )
    assert response.status_code == 302
    port = Port.objects.get(pk=mine.port.pk)
    assert (port.name, port.admin_state_up, port.port_security) == ("db-1", False, True)
    assert groups_of(port) == {mine.web_group}
    [lsp] = nb.rows("Logical_Switch_Port", name=port.interface_id)
    assert lsp["enabled"] is False
    assert in_port_group(nb, port, mine.web_group) and not in_port_group(nb, port, mine.default)


def test_turning_port_security_off_drops_the_address_check(browser, mine, nb, run_tasks):
    with run_tasks():
        browser.post(mine.url, {"name": "db", "admin_state_up": "on"})
    port = Port.objects.get(pk=mine.port.pk)
    assert port.port_security is False and groups_of(port) == set()
    [lsp] = nb.rows("Logical_Switch_Port", name=port.interface_id)
    assert lsp["port_security"] == ["set", []] and lsp["enabled"] is True


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "x" * 64}, "name"),
        ({"security_groups": ["999999"]}, "security_groups"),
    ],
)
def test_bad_input_is_a_field_error_and_changes_nothing(browser, mine, fields, field):
    response = browser.post(mine.url, {"name": "renamed", "port_security": "on", **fields})
    assert response.status_code == 400 and f'data-error-for="{field}"' in response.content.decode()
    port = Port.objects.get(pk=mine.port.pk)
    assert (port.name, port.admin_state_up) == ("db", True) and groups_of(port) == {mine.default}


def test_another_projects_group_is_refused_and_its_port_a_404(browser, mine, their_group, charlie, project_b):
    response = browser.post(mine.url, {"name": "db", "port_security": "on", "security_groups": [their_group.pk]})
    assert response.status_code == 400 and 'data-error-for="security_groups"' in response.content.decode()
    assert groups_of(mine.port) == {mine.default}
    outsider = signed_in(charlie, project_b)
    assert outsider.get(mine.url).status_code == 404
    assert outsider.post(mine.url, {"name": "mine", "security_groups": [their_group.pk]}).status_code == 404
    assert Port.objects.get(pk=mine.port.pk).name == "db" and groups_of(mine.port) == {mine.default}


def test_a_reader_cannot_edit_a_port(mine, bob, project_a):
    reader = signed_in(bob, project_a)
    assert reader.get("/network/ports/").status_code == 200
    assert reader.post(mine.url, {"name": "mine", "port_security": "on"}).status_code == 403
    assert Port.objects.get(pk=mine.port.pk).name == "db"
