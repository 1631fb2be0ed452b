"""Compute v2.1 remote consoles in-process: remote-consoles (2.6+) and os-getVNCConsole answer
the URL of the instance page's noVNC console; compute.console's checks decide (readers 403,
not running or on a simulated host 409); other projects 404; bad types 400, serial 501."""

from compute.choices import InstanceState
from compute.models import Host, Instance
from tests.openstack.test_api_actions import launch

NOVA = "/openstack/compute/v2.1"
V26 = {"OpenStack-API-Version": "compute 2.6"}
NOVNC = {"remote_console": {"protocol": "vnc", "type": "novnc"}}


def test_remote_consoles_answer_the_portals_novnc_page(clouds, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    server_id = launch(alice, run_tasks, flavor, image)
    consoles, action = f"{NOVA}/servers/{server_id}/remote-consoles", f"{NOVA}/servers/{server_id}/action"
    legacy = {"os-getVNCConsole": {"type": "novnc"}}

    simulated = alice.call("POST", consoles, NOVNC, **V26)
    assert simulated.status_code == 409 and "simulated host" in simulated.data["conflictingRequest"]["message"]
    assert alice.call("POST", action, legacy).status_code == 409

    instance = Instance.objects.get()
    far = Host.objects.create(name="far", uri="qemu+ssh://root@far/system", cluster=instance.host.cluster)
    Instance.objects.filter(pk=instance.pk).update(host=far, state=InstanceState.ACTIVE, vnc_port=5900)
    page = f"http://testserver/compute/instances/{instance.pk}/#vnc"
    opened = alice.call("POST", consoles, NOVNC, **V26)
    assert opened.status_code == 200, opened.content
    assert opened.data == {"remote_console": {"protocol": "vnc", "type": "novnc", "url": page}}
    assert alice.call("POST", action, legacy).data == {"console": {"type": "novnc", "url": page}}
    assert alice.client.get(page.removeprefix("http://testserver")).status_code in (200, 302)  # the page exists

    for refused in (bob.call("POST", consoles, NOVNC, **V26), bob.call("POST", action, legacy)):
        assert refused.status_code == 403 and "Readers" in refused.data["forbidden"]["message"]
    assert charlie.call("POST", consoles, NOVNC, **V26).status_code == 404
    assert charlie.call("POST", action, legacy).status_code == 404

    assert alice.call("POST", consoles, NOVNC).status_code == 404  # 2.1: remote-consoles does not exist yet
    for body, status in (
        ({"remote_console": {"protocol": "vnc", "type": "xvpvnc"}}, 400),
        ({"remote_console": {"protocol": "telnet", "type": "novnc"}}, 400),
        ({"remote_console": {"protocol": "serial", "type": "serial"}}, 501),
        ({"console": {}}, 400),
    ):
        answer = alice.call("POST", consoles, body, **V26)
        assert answer.status_code == status and answer.data[next(iter(answer.data))]["code"] == status, body
    assert alice.call("POST", action, {"os-getVNCConsole": {"type": "spice-html5"}}).status_code == 400
    assert alice.call("POST", action, {"os-getSerialConsole": {"type": "serial"}}).status_code == 501
    assert alice.call("POST", action, {"os-getSPICEConsole": {"type": "spice-html5"}}).status_code == 501

    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.SHUTOFF, vnc_port=None)
    stopped = alice.call("POST", consoles, NOVNC, **V26)
    assert stopped.status_code == 409 and "shut off" in stopped.data["conflictingRequest"]["message"]
