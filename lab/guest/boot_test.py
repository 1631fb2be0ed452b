#!/usr/bin/env python3
"""Boot the lab guest on host A, wait for its serial heartbeat, optionally
live-migrate it to host B and back, then remove it.

    python3 lab/guest/boot_test.py [--name nubes-boottest] [--migrate] [--keep]

Reads lab/state/lab.json (lab/up.sh must have run). Uses virsh only; the domain
XML comes from domain_xml.py (xml.etree). Prints timings; exits non-zero on
failure. Importable: boot(), wait_heartbeat(), migrate(), remove().
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import domain_xml  # noqa: E402

LAB_JSON = os.path.join(os.path.dirname(HERE), "state", "lab.json")
HEARTBEAT = re.compile(r"nubes-heartbeat (\d+)")


class LabError(RuntimeError):
    pass


def load_lab(path=LAB_JSON):
    with open(path) as f:
        return json.load(f)


def virsh(uri, *args, timeout=120):
    proc = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise LabError(f"virsh -c {uri} {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def serial_log(lab, name):
    return os.path.join(lab["guest"]["serial_log_dir"], name + ".log")


def last_heartbeat(path):
    try:
        with open(path, errors="replace") as f:
            beats = HEARTBEAT.findall(f.read())
    except FileNotFoundError:
        return None
    return int(beats[-1]) if beats else None


def wait_heartbeat(path, after=0, timeout=60):
    """Wait until the log shows a heartbeat counter > after; return (counter, seconds)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        n = last_heartbeat(path)
        if n is not None and n > after:
            return n, time.monotonic() - t0
        time.sleep(0.2)
    raise LabError(f"no heartbeat > {after:d} in {path} after {timeout:d}s")


def boot(lab, name, uri=None, ovn_port=None, mac=None):
    """Define and start the guest; return the serial log path."""
    uri = uri or lab["hosts"][0]["uri"]
    log = serial_log(lab, name)
    if os.path.exists(log):
        os.unlink(log)
    xml = domain_xml.build(
        name,
        lab["guest"]["kernel"],
        lab["guest"]["initrd"],
        log,
        virt_type=lab["kvm"]["virt_type"],
        memory_mib=lab["guest"]["memory_mib"],
        cmdline=lab["guest"]["cmdline"],
        ovn_port=ovn_port,
        mac=mac,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(xml)
    try:
        virsh(uri, "define", f.name)
    finally:
        os.unlink(f.name)
    virsh(uri, "start", name)
    return log


def migrate(lab, name, src_uri, dst_uri, migration_uri=None, bandwidth_mib=None):
    args = ["migrate", "--live", "--p2p", "--persistent", "--undefinesource", "--unsafe"]
    if migration_uri:  # where the source QEMU sends the memory (destination's mgmt IP)
        args += ["--migrateuri", migration_uri]
    if bandwidth_mib:
        args += ["--bandwidth", str(bandwidth_mib)]
    t0 = time.monotonic()
    virsh(src_uri, *args, name, dst_uri, timeout=300)
    return time.monotonic() - t0


def remove(uri, name):
    subprocess.run(["virsh", "-q", "-c", uri, "destroy", name], capture_output=True, timeout=60)
    subprocess.run(["virsh", "-q", "-c", uri, "undefine", name], capture_output=True, timeout=60)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="nubes-boottest")
    p.add_argument("--migrate", action="store_true", help="migrate A -> B -> A")
    p.add_argument("--keep", action="store_true", help="leave the guest running")
    p.add_argument("--timeout", type=int, default=90)
    a = p.parse_args(argv)
    if not a.name.startswith("nubes-"):
        p.error("lab guests are named nubes-*")
    lab = load_lab()
    host_a, host_b = lab["hosts"][0], lab["hosts"][1]
    where = host_a["uri"]
    try:
        t0 = time.monotonic()
        log = boot(lab, a.name)
        t_start = time.monotonic() - t0
        n, t_hb = wait_heartbeat(log, timeout=a.timeout)
        print(
            f"booted {a.name} on {where} (type {lab['kvm']['virt_type']}): start {t_start:.1f}s,"
            f" first heartbeat {t_hb:.1f}s after start"
        )
        if a.migrate:
            for src, dst in ((host_a, host_b), (host_b, host_a)):
                dst_uri = dst["tcp_uri"] or dst["uri"]
                if src is host_b and not host_a["tcp_uri"]:
                    print("host A's libvirtd does not listen on TCP (not started by the lab): no migration back")
                    break
                before = last_heartbeat(log)
                secs = migrate(lab, a.name, src["uri"], dst_uri, dst.get("migration_uri"))
                where = dst["uri"]
                state = virsh(where, "domstate", a.name).strip()
                n, t = wait_heartbeat(log, after=before + 2, timeout=30)
                print(
                    f"migrated {src['name']} -> {dst['name']} in {secs:.1f}s; state on {dst['name']}: {state};"
                    f" heartbeat {before:d} -> {n:d}"
                )
        return 0
    except (LabError, subprocess.TimeoutExpired) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if not a.keep:
            remove(where, a.name)


if __name__ == "__main__":
    sys.exit(main())
