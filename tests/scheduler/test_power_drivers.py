"""Power drivers against real endpoints on loopback: IPMI against OpenIPMI's ipmi_sim
(RMCP+ over UDP, through ipmitool), Redfish against a small HTTP BMC, Wake-on-LAN into a
UDP socket. Credentials are stored encrypted and never shown back."""

import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import connection

from scheduler import choices as c
from scheduler.models import PowerDriverConfig
from scheduler.power import Credentials, PowerError, PowerStatus
from scheduler.power.ipmi import IpmiDriver
from scheduler.power.redfish import RedfishDriver
from scheduler.power.wol import WakeOnLanDriver, magic_packet
from scheduler.services import power
from scheduler.tasks import power as power_tasks

BMC_USER, BMC_PASSWORD = "admin", "bmc-secret-42"
IPMI_START_TIMEOUT_S = 10
LAN_CONF = """name "nubes"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{chassis} 0x20"
  user 2 true "{user}" "{password}" admin 10 none md2 md5 straight
"""
EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
"""
# ipmi_sim asks this script for the chassis' power and tells it to switch: the "machine".
CHASSIS = """#!/bin/sh
state="{state}"
case "$2" in
  get) echo "power:$(cat "$state" 2>/dev/null || echo 0)" ;;
  set) [ "$3" = power ] && echo "$4" > "$state" ;;
esac
"""


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ipmi_sim(tmp_path_factory):
    """A real IPMI BMC on 127.0.0.1 (Debian's openipmi + ipmitool packages), or a skip."""
    missing = [tool for tool in ("ipmi_sim", "ipmitool") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install openipmi ipmitool)"
        print(f"SKIP IPMI driver tests: {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("ipmi")
    (base / "state").mkdir()
    chassis = base / "chassis.sh"
    chassis.write_text(CHASSIS.format(state=base / "power"))
    chassis.chmod(0o755)
    port = free_udp_port()
    (base / "lan.conf").write_text(LAN_CONF.format(port=port, chassis=chassis, user=BMC_USER, password=BMC_PASSWORD))
    (base / "cmds.emu").write_text(EMU)
    log = (base / "sim.log").open("w")
    process = subprocess.Popen(
        ["ipmi_sim", "-c", str(base / "lan.conf"), "-f", str(base / "cmds.emu"), "-s", str(base / "state"), "-n"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    driver = IpmiDriver(Credentials("bmc", "127.0.0.1", port, BMC_USER, BMC_PASSWORD), timeout_s=5)
    deadline = time.monotonic() + IPMI_START_TIMEOUT_S
    try:
        while True:
            try:
                driver.status()
                break
            except PowerError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(5)
        log.close()


def test_ipmi_switches_a_real_bmc_on_and_off(ipmi_sim):
    driver = IpmiDriver(Credentials("bmc", "127.0.0.1", ipmi_sim, BMC_USER, BMC_PASSWORD), timeout_s=5)
    driver.power_on()
    assert driver.status() == PowerStatus.ON
    driver.power_off()
    assert driver.status() == PowerStatus.OFF


def test_ipmi_with_a_wrong_password_fails_with_the_reason(ipmi_sim):
    driver = IpmiDriver(Credentials("bmc", "127.0.0.1", ipmi_sim, BMC_USER, "wrong"), timeout_s=5)
    with pytest.raises(PowerError, match="ipmitool chassis power status failed"):
        driver.status()


def test_a_host_with_an_ipmi_driver_is_powered_through_the_service(ipmi_sim, hosts, admin_user, run_tasks):
    host = hosts[2]
    power.configure_power(
        admin_user,
        host,
        kind=c.PowerDriverKind.IPMI,
        address="127.0.0.1",
        port=ipmi_sim,
        username=BMC_USER,
        password=BMC_PASSWORD,
    )
    with run_tasks():
        op = power.request_power(admin_user, host, c.PowerAction.OFF)
    op.refresh_from_db()
    assert op.status == "succeeded", op.message
    assert "ipmi" in op.message
    driver, _ = power_tasks.power_driver(host)
    assert driver.status() == PowerStatus.OFF


class FakeBmc(BaseHTTPRequestHandler):
    """A Redfish system resource: GET reports PowerState, Reset switches it."""

    state = {"PowerState": "On", "auth": None}

    def log_message(self, *args):
        pass

    def _reply(self, code, body=None):
        data = json.dumps(body or {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        FakeBmc.state["auth"] = self.headers.get("Authorization")
        self._reply(200, {"Id": "1", "PowerState": FakeBmc.state["PowerState"]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/Actions/ComputerSystem.Reset"):
            self._reply(404)
            return
        FakeBmc.state["PowerState"] = "Off" if body["ResetType"] == "ForceOff" else "On"
        self._reply(204)


@pytest.fixture
def redfish_url():
    server = HTTPServer(("127.0.0.1", 0), FakeBmc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/redfish/v1/Systems/1"
    server.shutdown()
    server.server_close()


def test_redfish_forces_off_and_reads_the_power_state(redfish_url):
    driver = RedfishDriver(Credentials("h", redfish_url, None, "root", "pw"), timeout_s=5)
    assert driver.status() == PowerStatus.ON
    driver.power_off()
    assert driver.status() == PowerStatus.OFF
    assert FakeBmc.state["auth"].startswith("Basic ")
    driver.power_on()
    assert driver.status() == PowerStatus.ON


def test_redfish_unreachable_is_a_power_error():
    driver = RedfishDriver(Credentials("h", "http://127.0.0.1:9/redfish/v1/Systems/1"), timeout_s=2)
    with pytest.raises(PowerError, match="unreachable"):
        driver.power_off()


def test_wake_on_lan_sends_the_magic_packet_to_the_broadcast_address(settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        settings.NUBES_WOL_BROADCAST = "127.0.0.1"
        settings.NUBES_WOL_PORT = listener.getsockname()[1]
        WakeOnLanDriver(Credentials("h", "52:54:00:ab:cd:ef")).power_on()
        packet, _ = listener.recvfrom(1024)
    assert packet == b"\xff" * 6 + bytes.fromhex("525400abcdef") * 16
    assert len(packet) == 102


def test_wake_on_lan_cannot_power_off_so_cannot_fence():
    driver = WakeOnLanDriver(Credentials("h", "52:54:00:ab:cd:ef"))
    with pytest.raises(PowerError, match="cannot power a host off"):
        driver.power_off()


def test_a_bad_mac_is_refused():
    with pytest.raises(PowerError):
        magic_packet("52:54:00:zz:00:01")


def test_the_bmc_password_is_encrypted_in_the_database(hosts, admin_user):
    power.configure_power(
        admin_user, hosts[0], kind=c.PowerDriverKind.IPMI, address="10.0.0.5", username="root", password=BMC_PASSWORD
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {PowerDriverConfig._meta.db_table}")
        raw = repr(cursor.fetchall())
    assert BMC_PASSWORD not in raw
    assert PowerDriverConfig.objects.get(host=hosts[0]).password() == BMC_PASSWORD


def test_a_changed_secret_key_leaves_the_password_unreadable_not_wrong(hosts, admin_user, settings):
    config = power.configure_power(
        admin_user, hosts[0], kind=c.PowerDriverKind.IPMI, address="10.0.0.5", username="root", password=BMC_PASSWORD
    )
    settings.SECRET_KEY = "another-key"
    assert config.password() is None


@pytest.mark.parametrize(
    "kind,address,field",
    [
        (c.PowerDriverKind.WOL, "not-a-mac", "address"),
        (c.PowerDriverKind.REDFISH, "ftp://bmc/redfish", "address"),
        (c.PowerDriverKind.IPMI, "", "address"),
        (c.PowerDriverKind.IPMI, "bmc;rm -rf /", "address"),
    ],
)
def test_it_rejects_a_bad_driver_address(hosts, admin_user, kind, address, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        power.configure_power(admin_user, hosts[0], kind=kind, address=address)
    assert field in err.value.message_dict
