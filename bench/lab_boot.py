"""Time from the API call "create instance" to the guest's first heartbeat on the lab,
split into the portal's part (API -> task -> libvirt define + start) and the guest's boot.

    make lab && .venv/bin/python bench/lab_boot.py [--runs 3]

Uses a throwaway SQLite database, registers the lab (lab/state/lab.json) through the
services, runs Celery tasks inline, and boots the lab guest on host A one run at a time
(TCG: a few small guests at most on 2 cores). Prints medians; asserts nothing.
"""

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import django_env  # noqa: F401  (sets Django up first)

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from compute.models import Instance
from portal import lab
from portal.models import Operation, Project

POLL_S = 0.05
HEARTBEAT_TIMEOUT_S = 120


def first_heartbeat(log_path, started):
    deadline = started + HEARTBEAT_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if re.search(r"nubes-heartbeat \d+", Path(log_path).read_text(errors="replace")):
                return time.monotonic()
        except FileNotFoundError:
            pass
        time.sleep(POLL_S)
    raise SystemExit(f"no heartbeat in {log_path} within {HEARTBEAT_TIMEOUT_S}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    try:
        data = lab.load()
    except lab.LabNotUp as exc:
        print(f"bench/lab_boot.py needs the lab: {exc}")
        return 0
    admin = get_user_model().objects.create_superuser("bench-admin", "", "x")
    made = lab.register(admin, data)
    project = Project.objects.create(name="bench")
    host_a = made["hosts"][0]
    client = APIClient()
    client.force_authenticate(admin)
    portal_s, boot_s, total_s = [], [], []
    for run in range(args.runs):
        payload = {
            "project": project.pk,
            "name": f"bench-boot-{run}",
            "flavor": made["flavor"].pk,
            "image": made["image"].pk,
            "host": host_a.pk,
        }
        started = time.monotonic()
        response = client.post("/api/v1/instances/", payload, format="json")
        started_guest = time.monotonic()  # the task ran inline: define + start are done
        op = Operation.objects.get(pk=response.json()["id"])
        if op.status != "succeeded":
            raise SystemExit(f"create failed: {op.error}")
        instance = Instance.objects.get(pk=op.target_id)
        beat = first_heartbeat(instance.serial_log_path, started_guest)
        portal_s.append(started_guest - started)
        boot_s.append(beat - started_guest)
        total_s.append(beat - started)
        print(f"  run {run + 1}: portal {portal_s[-1]:.2f} s, guest boot {boot_s[-1]:.2f} s", file=sys.stderr)
        client.delete(f"/api/v1/instances/{instance.pk}/")
    print(f"lab boot, median of {args.runs} on {host_a.name} ({data['kvm']['virt_type']}):")
    print(f"  portal overhead (API -> task -> define + start)  {statistics.median(portal_s):6.2f} s")
    print(f"  guest boot (start -> first heartbeat)            {statistics.median(boot_s):6.2f} s")
    print(f"  total (API call -> first heartbeat)              {statistics.median(total_s):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
