"""The instance page's Ports card (network's panel through compute.hooks): each port with its
network, MAC, fixed IP and security groups, the addresses in the facts; the placeholder gone."""

from compute.models import Instance
from network.models import Port
from tests.list_pages import signed_in
from tests.network.test_instance_ports import launch, launchable, make_network, succeeded  # noqa: F401


def test_the_instance_page_shows_its_ports_with_addresses_and_security_groups(
    nb,
    api,
    alice,
    charlie,
    project_a,
    run_tasks,
    launchable,  # noqa: F811
):
    network = make_network(alice, project_a, run_tasks)
    op = succeeded(launch(api, run_tasks, launchable, networks=[network.pk]))
    instance = Instance.objects.get(pk=op.target_id)
    port = Port.objects.get(instance=instance)
    address = port.ip_allocations.get().address
    page = signed_in(alice).get(f"/compute/instances/{instance.pk}/").content.decode()
    card = page[page.index('id="instance-ports"') :]
    assert f'data-port="{port.pk}"' in card and network.name in card and port.mac_address in card
    assert address in card and "default" in card  # the project's default security group
    assert address in page[page.index('id="instance-addresses"') :]
    assert "ports come with" not in page
    assert signed_in(charlie).get(f"/compute/instances/{instance.pk}/").status_code == 404
