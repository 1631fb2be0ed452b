"""Instance create / stop / start / delete on the fleet (`make lab-fleet`), from outside, and
an upload to host B against `virsh vol-upload` on the same link.

    make lab && make lab-fleet && .venv/bin/python bench/fleet.py [--runs 2] [--upload-mib 256] [--virsh-first]

Each action is timed from the API call to its final Operation message on a websocket: the
request, the broker, a Celery worker in another process (host B's in its network namespace),
libvirt over qemu+tcp://, the publish through Redis and a uvicorn worker. The Operation's own
queue wait (created -> started) and run time (started -> finished) are shown apart. The upload
goes through the API (PUT /volumes/<id>/upload/) into a pool only host B sees, then the same
file through `virsh vol-upload` to host B (before it with --virsh-first), each with the CPU seconds
it took (web workers, curl or virsh, host B's libvirtd, the whole machine). Prints figures; asserts nothing.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet.client import fleet_or_say, sign_in_admin, subscribe  # noqa: E402

MESSAGE_TIMEOUT_S = 300
BENCH_POOL_DIR = "/var/lib/nubes-lab/fleet-bench-{}"  # the portal makes it; its pool delete removes it
MIB = 1 << 20


HOSTB_LIBVIRTD_PID = ROOT / "lab/state/hostb/run-libvirt/libvirtd.pid"


def cpu_of(pid):
    """CPU seconds of a process and its waited-for children (/proc/PID/stat), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class CpuUse:
    """CPU seconds spent during a block: by the web workers (with their children), by this
    script's children (curl, virsh), by host B's libvirtd, and by the whole machine (others too)."""

    def __init__(self, web_pids):
        self.web_pids = web_pids
        self.libvirtd = int(HOSTB_LIBVIRTD_PID.read_text()) if HOSTB_LIBVIRTD_PID.exists() else None

    def sample(self):
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open("/proc/stat") as stat:
            busy = [int(v) for v in stat.readline().split()[1:]]
        web = [cpu_of(p) for p in self.web_pids]
        return (
            None if None in web else sum(web),  # None: a worker was restarted (the fault tests kill them)
            own.ru_utime + own.ru_stime,
            cpu_of(self.libvirtd) if self.libvirtd else None,
            (sum(busy) - busy[3] - busy[4]) / os.sysconf("SC_CLK_TCK"),
        )

    def since(self, before):
        spent = [None if a is None or b is None else f"{b - a:.2f}" for a, b in zip(before, self.sample(), strict=True)]
        web, client, libvirtd, machine = (value or "n/a" for value in spent)
        return f"CPU s: web {web}, curl/virsh {client}, host B libvirtd {libvirtd}, machine {machine}"


def seconds(start, end):
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class Timer:
    """Runs API actions and times each to its final Operation message on the websocket."""

    def __init__(self, admin, sock):
        self.admin, self.sock = admin, sock

    def final_message(self, op_id):
        deadline = time.monotonic() + MESSAGE_TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self.sock.recv(timeout=deadline - time.monotonic()))
            data = message.get("data") or {}
            if (
                message.get("event") == "operation"
                and data.get("id") == op_id
                and data["status"] in ("succeeded", "failed")
            ):
                return data
        raise SystemExit(f"no final message of operation {op_id} within {MESSAGE_TIMEOUT_S}s")

    def run(self, method, path, **kwargs):
        """(round trip s, operation) of one action."""
        start = time.monotonic()
        op = self.admin.action(method, path, **kwargs)
        final = self.final_message(op["id"])
        elapsed = time.monotonic() - start
        if final["status"] != "succeeded":
            raise SystemExit(f"{method} {path}: {final['status']}: {final['error'] or final['message']}")
        return elapsed, self.admin.get(f"operations/{op['id']}/")


def report(label, runs):
    trips = [r[0] * 1000 for r in runs]
    queued = [seconds(op["created"], op["started"]) * 1000 for _, op in runs]
    ran = [seconds(op["started"], op["finished"]) * 1000 for _, op in runs]
    print(
        f"  {label:<22} n={len(runs)}  round trip median {statistics.median(trips):7.0f} ms "
        f"(min {min(trips):.0f}, max {max(trips):.0f})   queued {statistics.median(queued):5.0f} ms   "
        f"task {statistics.median(ran):6.0f} ms"
    )


def lifecycle(timer, admin, project, hosts, runs):
    flavor = next(f for f in admin.items("flavors/?page_size=100") if f["name"] == "lab.tiny")
    image = next(i for i in admin.items("images/?page_size=100") if i["name"] == "lab-guest")
    for name, host in hosts.items():
        results = {"create": [], "stop": [], "start": [], "delete": []}
        for _ in range(runs):
            payload = {
                "project": project["id"],
                "name": f"bench-{uuid.uuid4().hex[:6]}",
                "flavor": flavor["id"],
                "image": image["id"],
                "host": host["id"],
            }
            trip, op = timer.run("POST", "instances/", json=payload)
            results["create"].append((trip, op))
            instance = op["target_id"]
            results["stop"].append(timer.run("POST", f"instances/{instance}/stop/", json={"force": True}))
            results["start"].append(timer.run("POST", f"instances/{instance}/start/", json={}))
            results["delete"].append(timer.run("DELETE", f"instances/{instance}/"))
        print(f"{name} ({host['uri']}):")
        for action, samples in results.items():
            report(action, samples)


def upload(timer, admin, project, host_b, mib, virsh_first=False, cpu=None):
    """API upload into a pool only host B sees vs virsh vol-upload of the same file to host B."""
    tag = uuid.uuid4().hex[:6]
    pool_name, pool_dir = f"nubes-fleet-bench-{tag}", BENCH_POOL_DIR.format(tag)
    pool = admin.call(
        "POST",
        "storage-pools/",
        expect=202,
        json={
            "name": f"fleet-bench-{tag}",
            "libvirt_name": pool_name,
            "type": "dir",
            "target_path": pool_dir,
            "hosts": [host_b["id"]],
        },
    ).json()
    pool_id = pool["target_id"]
    admin.succeeded(pool)
    with tempfile.NamedTemporaryFile(prefix="nubes-bench-upload-") as data:
        block = os.urandom(MIB)
        for _ in range(mib):
            data.write(block)
        data.flush()
        size_gb = max(1, -(-mib // 1024))

        def api_upload():
            _, made = timer.run(
                "POST",
                "volumes/",
                json={
                    "project": project["id"],
                    "name": "bench-upload",
                    "pool": pool_id,
                    "size_gb": size_gb,
                    "format": "raw",
                },
            )
            volume = made["target_id"]
            start, used = time.monotonic(), cpu.sample()
            # curl, as a tenant would send it: python-requests writes a file in 8 KiB blocks, and
            # its client on this same machine took CPU from the portal it measured
            with open(data.name, "rb") as body:
                sent = subprocess.run(
                [
                    "curl", "-sS", "--fail-with-body", "-X", "PUT", "-T", "-",  # a file name would be appended to the URL
                    "-H", f"Content-Length: {mib * MIB}", "-H", "Transfer-Encoding:",  # else also chunked
                    "-H", f"Authorization: {admin.api.headers['Authorization']}",
                    "-H", "Content-Type: application/octet-stream",
                    f"{admin.url}/api/v1/volumes/{volume}/upload/",
                ],
                stdin=body, capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            if sent.returncode != 0:
                raise SystemExit(f"curl's upload failed ({sent.returncode}): {sent.stdout} {sent.stderr}")
            op = json.loads(sent.stdout)
            final = timer.final_message(op["id"])
            elapsed = time.monotonic() - start
            api_rate = None
            if final["status"] == "succeeded":
                api_rate = mib / elapsed
                print(f"  API upload {mib} MiB to host B: {elapsed:.2f} s, {api_rate:.0f} MiB/s (request + task)")
                print(f"    {cpu.since(used)}")
            else:
                print(f"  API upload {mib} MiB to host B: {final['status']}: {final['error'] or final['message']}")
            removal = admin.call("DELETE", f"volumes/{volume}/")
            if removal.status_code == 202:
                admin.succeeded(removal.json())
            else:
                print(
                    f"  the uploaded volume cannot be deleted ({removal.status_code} {removal.text}); make fleet-down removes it"
                )
            return api_rate

        def virsh_upload():
            uri, name = host_b["uri"], f"bench-virsh-{uuid.uuid4().hex[:6]}"
            virsh = ["virsh", "-q", "-c", uri]
            subprocess.run(
                [*virsh, "vol-create-as", pool_name, name, f"{size_gb}G", "--format", "raw"],
                check=True,
                capture_output=True,
            )
            start, used = time.monotonic(), cpu.sample()
            subprocess.run(
                [*virsh, "vol-upload", name, data.name, "--pool", pool_name], check=True, capture_output=True
            )
            elapsed = time.monotonic() - start
            print(f"  virsh vol-upload {mib} MiB to host B: {elapsed:.2f} s, {mib / elapsed:.0f} MiB/s")
            print(f"    {cpu.since(used)}")
            subprocess.run([*virsh, "vol-delete", name, "--pool", pool_name], check=True, capture_output=True)
            return mib / elapsed

        try:
            if virsh_first:
                virsh_rate = virsh_upload()
                api_rate = api_upload()
            else:
                api_rate = api_upload()
                virsh_rate = virsh_upload()
            if api_rate is not None:
                print(f"  API upload / virsh vol-upload: {100 * api_rate / virsh_rate:.0f} % (goal >= 50 %)")
        finally:
            removal = admin.call("DELETE", f"storage-pools/{pool_id}/")
            if removal.status_code == 202:
                admin.wait(removal.json())  # the portal made the pool's directory: its delete removes it
            else:
                print(f"  the bench pool stays ({removal.status_code} {removal.text}); make fleet-down removes it")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="create/stop/start/delete rounds per host (0: none)")
    parser.add_argument("--upload-mib", type=int, default=256)
    parser.add_argument(
        "--virsh-first",
        action="store_true",
        help="the virsh upload before the API's (alternate to see the order's effect)",
    )
    args = parser.parse_args()
    fleet = fleet_or_say()
    if fleet is None:
        return
    admin = sign_in_admin(fleet)
    project = admin.call("POST", "projects/", expect=201, json={"name": f"bench-fleet-{uuid.uuid4().hex[:6]}"}).json()
    rows = {row["name"]: row for row in admin.items("hosts/?page_size=100")}
    hosts = {spec["name"]: rows[spec["name"]] for spec in fleet["lab"]["hosts"]}
    print(
        f"fleet {fleet['url']}: {len(fleet['web_worker_pids'])} uvicorn workers, workers on {', '.join(fleet['workers'])}"
    )
    print("load average {:.1f} {:.1f} {:.1f} at the start".format(*os.getloadavg()))
    sock = admin.socket()
    try:
        subscribe(sock, f"project.{project['id']}")
        timer = Timer(admin, sock)
        if args.runs:  # --runs 0: the upload alone
            lifecycle(timer, admin, project, hosts, args.runs)
        print("upload:")
        cpu = CpuUse(fleet["web_worker_pids"])
        upload(timer, admin, project, list(hosts.values())[1], args.upload_mib, args.virsh_first, cpu)
    finally:
        sock.close()
        admin.call("DELETE", f"projects/{project['id']}/")
        print("load average {:.1f} {:.1f} {:.1f} at the end".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
