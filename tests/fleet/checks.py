"""What every fault test of the fleet ends with (issue "Faults and load on the fleet"): every
Operation of its project ended, the database agreeing with `virsh list --all` on both hosts,
nothing of its instances left (domains, volumes, seeds, OVN NB rows), no quota leaked, the portal
serving. And the one way a test may signal a process: a PID the fleet started, or a child of one."""

import subprocess
from pathlib import Path

import requests

from tests.fleet.client import DONE

SHARED_POOL = "nubes-shared"  # the lab image's pool: root disks and seeds are made there
NB_TIMEOUT_S = 20


def proc_start(pid):
    """A process's start time in clock ticks (with its PID, its identity); None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return None


def recorded(fleet, name):
    """The fleet's recorded process `name` (fleet.json), checked alive and the same process."""
    proc = next(p for p in fleet["processes"] if p["name"] == name)
    assert proc_start(proc["pid"]) == proc["start_ticks"], f"the fleet's {name} (pid {proc['pid']}) is gone"
    return proc["pid"]


def started_by_fleet(fleet, pid):
    """The recorded fleet process `pid` is, or descends from (a Celery pool process, a uvicorn
    worker); None when it is none of the fleet's."""
    alive = {p["pid"]: p["name"] for p in fleet["processes"] if proc_start(p["pid"]) == p["start_ticks"]}
    while pid and pid > 1:
        if pid in alive:
            return alive[pid]
        pid = parent(pid)
    return None


def children(pid):
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and parent(int(p.name)) == pid and proc_start(int(p.name)) is not None
    ]


def quota_in_use(admin, project):
    return {row["resource"]: row["in_use"] for row in admin.items(f"quotas/?project={project['id']}")}


def nb_rows():
    """Every row of the OVN NB's ports and switches, as text (the lab's NB, on host A's link)."""
    out = []
    for table in ("Logical_Switch_Port", "Logical_Switch"):
        result = subprocess.run(
            ["ovn-nbctl", "--db=tcp:10.99.0.1:6641", f"--timeout={NB_TIMEOUT_S}", "list", table],
            capture_output=True,
            text=True,
            timeout=NB_TIMEOUT_S + 10,
        )
        assert result.returncode == 0, f"OVN NB unreadable: {result.stderr}"
        out.append(result.stdout)
    return "\n".join(out)


def left_on_hosts(hosts, instances):
    """What of `instances` (API rows) any host still has: domains and volumes naming them."""
    left = []
    for host in hosts.values():
        present = domains(host["uri"])
        virsh(host["uri"], "pool-refresh", SHARED_POOL)
        volumes = [line.split()[0] for line in virsh(host["uri"], "vol-list", SHARED_POOL).splitlines() if line]
        for instance in instances:
            name = instance["domain_name"]
            left += [f"domain {name} on {host['name']}"] if name in present else []
            left += [f"volume {v} on {host['name']}" for v in volumes if name in v]
    return left


def assert_settled(admin, fleet, hosts, project, gone, quota_before):
    """The end of every fault test: `gone` (instances the test made and deleted) left nothing."""
    ops = admin.items(f"operations/?project={project['id']}&page_size=200")
    unfinished = [(op["id"], op["kind"], op["status"]) for op in ops if op["status"] not in DONE]
    assert unfinished == [], f"operations not ended: {unfinished}"
    listed = {row["domain_name"]: row["host"] for row in admin.items("instances/?page_size=500")}
    for host in hosts.values():
        present = domains(host["uri"])
        for name, host_id in listed.items():
            assert (name in present) == (host_id == host["id"]), (
                f"{name}: API says host {host_id}, virsh on {host['name']}"
            )
    assert left_on_hosts(hosts, gone) == []
    rows = nb_rows()
    assert not [i["name"] for i in gone if str(i["uuid"]) in rows or i["domain_name"] in rows], "NB rows left"
    assert quota_in_use(admin, project) == quota_before, "quota leaked"
    assert requests.get(f"{fleet['url']}/readyz", timeout=10).status_code == 200
    admin.get("instances/?page_size=5")


def virsh(uri, *args):
    result = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=60)
    return result.stdout


def domains(uri):
    return set(virsh(uri, "list", "--all", "--name").split())
