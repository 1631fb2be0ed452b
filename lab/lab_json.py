#!/usr/bin/env python3
"""Write lab/state/lab.json from the environment up.sh exports (format: see up.sh)."""

import datetime
import json
import os

E = os.environ


def started_processes():
    procs = []
    with open(E["STARTED"]) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4:
                name, pid, exe, pidfile = parts
                procs.append({"name": name, "pid": int(pid), "exe": exe, "pidfile": pidfile})
    # Keep the latest record per name (a restarted daemon appends a new line).
    latest = {p["name"]: p for p in procs}
    return list(latest.values())


def main():
    state = E["STATE"]
    with open(os.path.join(state, "cache", "kvm.json")) as f:
        kvm = json.load(f)
    reused = []
    if os.path.exists(E["LABJ_REUSED_FILE"]):
        with open(E["LABJ_REUSED_FILE"]) as f:
            reused = sorted({line.strip() for line in f if line.strip()})
    hosta_tcp = E["LABJ_HOSTA_TCP"]
    hosta_tcp = None if hosta_tcp == "null" else hosta_tcp.strip('"')
    bridges_a = E["BRIDGES_A"].split()
    bridges_b = E["BRIDGES_B"].split()
    doc = {
        "version": 1,
        "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state_dir": state,
        "kvm": kvm,
        "hosts": [
            {
                "name": E["CHASSIS_A"],
                "uri": E["URI_A"],
                "tcp_uri": hosta_tcp,
                "mgmt_ip": E["MGMT_A"],
                "migration_uri": f"tcp://{E['MGMT_A']}",
                "encap_ip": E["TUN_A"],
                "chassis": E["CHASSIS_A"],
                "netns": None,
                "exec": None,
                "ovs_db": f"unix:{E['OVS_A_RUN']}/db.sock",
                "bridges": bridges_a,
                "gateway": True,
                "bridge_mappings": f"{E['PHYSNET']}:br-ex",
            },
            {
                "name": E["CHASSIS_B"],
                "uri": E["URI_B"],
                "tcp_uri": E["URI_B"],
                "mgmt_ip": E["MGMT_B"],
                "migration_uri": f"tcp://{E['MGMT_B']}",
                "encap_ip": E["TUN_B"],
                "chassis": E["CHASSIS_B"],
                "netns": E["NETNS_B"],
                "exec": os.path.join(E["LAB"], "hostb.sh"),
                "ovs_db": f"unix:{E['HB']}/run-openvswitch/db.sock",
                "bridges": bridges_b,
                "gateway": False,
                "bridge_mappings": None,
                "host_uuid": open(os.path.join(E["HB"], "host_uuid")).read().strip(),
                "mount_ns": os.path.join(E["NSDIR"], "hostb.mnt"),
                "uts_ns": os.path.join(E["NSDIR"], "hostb.uts"),
            },
        ],
        "ovn": {"nb": E["OVN_NB"], "sb": E["OVN_SB"], "encap_type": "geneve", "integration_bridge": "br-int"},
        "provider": {
            "netns": E["NETNS_P"],
            "physnet": E["PHYSNET"],
            "bridge": "br-ex",
            "cidr": E["PROVIDER_CIDR"],
            "gateway": E["PROVIDER_GW"],
            "floating_ip_range": [E["PROVIDER_FIP_FIRST"], E["PROVIDER_FIP_LAST"]],
        },
        "pools": [
            {
                "name": E["POOL_SHARED"],
                "type": "dir",
                "path": E["POOL_SHARED_PATH"],
                "hosts": [E["CHASSIS_A"], E["CHASSIS_B"]],
                "shared": True,
            },
            {
                "name": E["POOL_LOCAL"],
                "type": "dir",
                "path": E["POOL_LOCAL_PATH"],
                "hosts": [E["CHASSIS_A"]],
                "shared": False,
            },
        ],
        "guest": {
            "kernel": os.path.join(E["IMAGES"], "vmlinuz"),
            "initrd": os.path.join(E["IMAGES"], "initrd.img"),
            "cmdline": E["CMDLINE"],
            "kernel_version": E["KERNEL_VERSION"],
            "memory_mib": 256,
            "serial_log_dir": E["SERIAL"],
            "heartbeat_regex": r"nubes-heartbeat (\d+)",
            "dhcp_regex": r"nubes-dhcp (bound|renew) iface=(\S+) ip=(\S+)",
            "tcp_ports": [8080, 80],
            "domain_prefix": E["DOMAIN_PREFIX"],
            "domain_xml_tool": os.path.join(E["LAB"], "guest", "domain_xml.py"),
        },
        "namespaces": [E["NETNS_B"], E["NETNS_P"]],
        "veths": E["ALL_VETHS"].split(),
        "bridges": {E["CHASSIS_A"]: bridges_a, E["CHASSIS_B"]: bridges_b},
        "processes": started_processes(),
        "reused": reused,
        "timings_s": {"up": round(float(E["LABJ_UP_S"]), 1)},
    }
    # The storage node (lab/storage.sh) adds its network pools and a "storage" section.
    storage_json = os.path.join(E["STATE"], "storage.json")
    if os.path.exists(storage_json):
        with open(storage_json) as f:
            storage = json.load(f)
        doc["pools"].extend(storage.pop("pools"))
        doc["storage"] = storage
        doc["namespaces"].append(storage["netns"])
    tmp = E["LAB_JSON"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, E["LAB_JSON"])


if __name__ == "__main__":
    main()
