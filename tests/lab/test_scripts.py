"""Fast checks of the lab scripts and the guest's domain XML (no daemons needed)."""

import re
import sys
import xml.etree.ElementTree as ET

import pytest

from .conftest import LAB_DIR, run

sys.path.insert(0, str(LAB_DIR / "guest"))
import domain_xml  # noqa: E402

SCRIPTS = sorted(LAB_DIR.glob("*.sh")) + sorted((LAB_DIR / "guest").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_it_parses_as_bash(script):
    run("bash", "-n", script)


@pytest.mark.parametrize("script", SCRIPTS + [LAB_DIR / "guest" / "init"], ids=lambda p: p.name)
def test_it_never_kills_by_name_pattern(script):
    text = script.read_text()
    assert not re.search(r"\b(pkill|killall)\b", text), script


def test_the_guest_xml_is_migration_safe_and_logs_the_serial_console():
    xml = domain_xml.build("nubes-t", "/k", "/i", "/var/log/s.log")
    dom = ET.fromstring(xml)
    assert dom.get("type") == "qemu"
    assert dom.find("clock/timer[@name='hpet']").get("present") == "no"
    assert "clocksource=acpi_pm" in dom.findtext("os/cmdline")
    assert "console=ttyS0" in dom.findtext("os/cmdline")
    log = dom.find("devices/serial/log")
    assert log.get("file") == "/var/log/s.log" and log.get("append") == "on"
    assert dom.find("devices/interface") is None


def test_an_ovn_nic_has_checksum_offload_off_and_the_port_as_interfaceid():
    port = "3a056fdf-cc5c-49c8-b8b9-31106d8f5a0a"
    dom = ET.fromstring(
        domain_xml.build("nubes-t", "/k", "/i", "/s", virt_type="kvm", ovn_port=port, mac="52:54:00:00:00:11")
    )
    assert dom.get("type") == "kvm"
    iface = dom.find("devices/interface")
    assert iface.find("source").get("bridge") == "br-int"
    assert iface.find("virtualport").get("type") == "openvswitch"
    assert iface.find("virtualport/parameters").get("interfaceid") == port
    assert iface.find("driver/host").get("csum") == "off"
    assert iface.find("driver/guest").get("csum") == "off"
    assert iface.find("mac").get("address") == "52:54:00:00:00:11"
