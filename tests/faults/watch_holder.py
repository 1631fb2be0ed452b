"""One worker-like process asking, every 0.3 s, to follow a host's lifecycle events (what beat's
follow_events does in a worker); prints one JSON line per round: does this process watch it?

    python -m tests.faults.watch_holder <host uri> <seconds>
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from compute.models import Host  # noqa: E402
from compute.tasks import lifecycle as tasks  # noqa: E402
from portal import fleetlock  # noqa: E402


def main(uri, seconds):
    host = Host(name="watched", uri=uri)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tasks.ensure_watch(host)
        line = {"t": time.time(), "pid": os.getpid(), "me": fleetlock.me(), "watching": uri in tasks._watched}
        print(json.dumps(line), flush=True)
        time.sleep(0.3)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
