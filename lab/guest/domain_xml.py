#!/usr/bin/env python3
"""Domain XML for the Nubes lab guest, built with xml.etree (stdlib only).

Direct kernel boot of lab/build/guest's kernel + initramfs, serial console
logged to a file (append, so a migrated guest keeps writing the same log),
no HPET (guests froze after migrating with it), optional OVS/OVN NIC with
checksum offload off (TCP across the userspace datapath needs it).

    python3 lab/guest/domain_xml.py --name nubes-t1 --kernel K --initrd I \
        --serial-log /var/lib/nubes-lab/serial/nubes-t1.log [--type qemu]
        [--ovn-port LSP-NAME] [--mac 52:54:00:..] > dom.xml
"""

import argparse
import sys
import uuid
import xml.etree.ElementTree as ET

DEFAULT_CMDLINE = "console=ttyS0 clocksource=acpi_pm no_timer_check"
DEFAULT_MEMORY_MIB = 256


def sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def build(
    name,
    kernel,
    initrd,
    serial_log,
    virt_type="qemu",
    memory_mib=DEFAULT_MEMORY_MIB,
    vcpus=1,
    cmdline=DEFAULT_CMDLINE,
    ovn_port=None,
    bridge="br-int",
    mac=None,
    disk=None,
    dom_uuid=None,
):
    dom = ET.Element("domain", type=virt_type)
    sub(dom, "name", name)
    sub(dom, "uuid", dom_uuid or str(uuid.uuid4()))
    sub(dom, "memory", memory_mib, unit="MiB")
    sub(dom, "currentMemory", memory_mib, unit="MiB")
    sub(dom, "vcpu", vcpus)
    os_el = sub(dom, "os")
    sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    sub(os_el, "kernel", kernel)
    sub(os_el, "initrd", initrd)
    hostname = name
    sub(os_el, "cmdline", f"{cmdline} nubes.hostname={hostname}")
    features = sub(dom, "features")
    sub(features, "acpi")
    sub(features, "apic")
    clock = sub(dom, "clock", offset="utc")
    sub(clock, "timer", name="hpet", present="no")
    sub(dom, "on_poweroff", "destroy")
    sub(dom, "on_reboot", "restart")
    sub(dom, "on_crash", "destroy")
    devices = sub(dom, "devices")
    if disk:
        d = sub(devices, "disk", type="file", device="disk")
        sub(d, "driver", name="qemu", type="qcow2" if disk.endswith(".qcow2") else "raw")
        sub(d, "source", file=disk)
        sub(d, "target", dev="vda", bus="virtio")
    if ovn_port:
        iface = sub(devices, "interface", type="bridge")
        if mac:
            sub(iface, "mac", address=mac)
        sub(iface, "source", bridge=bridge)
        vport = sub(iface, "virtualport", type="openvswitch")
        sub(vport, "parameters", interfaceid=ovn_port)
        sub(iface, "model", type="virtio")
        drv = sub(iface, "driver", name="qemu")
        sub(drv, "host", csum="off")
        sub(drv, "guest", csum="off")
    serial = sub(devices, "serial", type="pty")
    sub(serial, "log", file=serial_log, append="on")
    sub(serial, "target", port=0)
    console = sub(devices, "console", type="pty")
    sub(console, "target", type="serial", port=0)
    sub(devices, "memballoon", model="virtio")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--serial-log", required=True)
    p.add_argument("--type", default="qemu", choices=["qemu", "kvm"])
    p.add_argument("--memory-mib", type=int, default=DEFAULT_MEMORY_MIB)
    p.add_argument("--vcpus", type=int, default=1)
    p.add_argument("--cmdline", default=DEFAULT_CMDLINE)
    p.add_argument("--ovn-port", help="logical switch port name (iface-id) for a NIC on br-int")
    p.add_argument("--mac")
    p.add_argument("--disk", help="path of a raw or .qcow2 disk image")
    a = p.parse_args(argv)
    sys.stdout.write(
        build(
            a.name,
            a.kernel,
            a.initrd,
            a.serial_log,
            a.type,
            a.memory_mib,
            a.vcpus,
            a.cmdline,
            a.ovn_port,
            mac=a.mac,
            disk=a.disk,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
