"""The second signal before a host is declared dead: what the other workers' probes saw.

Every heartbeat notes its verdict per (host, worker) in the cache (Redis in a fleet). Before a
failover the worker that lost the host asks for a second opinion: another worker that reached
the host within the isolation time vetoes the failover (the first worker is the one cut off);
another worker that also failed confirms it. With no other worker probing (one worker, the
embedded default) the first worker's verdict stands alone, and the failover's reason says so."""

from django.core.cache import cache
from django.utils import timezone

from portal import leases

KEY = "nubes:ha:probes:{}"
KEEP_S = 3600  # longer than any isolation time


def note(host, alive, *, worker=None, now=None):
    """Record this worker's probe of the host (last one per worker)."""
    now = now or timezone.now()
    key = KEY.format(host.pk)
    seen = cache.get(key) or {}
    seen[worker or leases.worker_name()] = (bool(alive), now.timestamp())
    cache.set(key, seen, timeout=KEEP_S)  # a lost concurrent update costs one sample, not a verdict


def second_opinion(host, window_s, *, worker=None, now=None):
    """("alive" | "dead" | None, the other worker) from other workers' probes within window_s."""
    now = now or timezone.now()
    me = worker or leases.worker_name()
    since = now.timestamp() - window_s
    others = {w: alive for w, (alive, at) in (cache.get(KEY.format(host.pk)) or {}).items() if w != me and at >= since}
    for verdict, wanted in (("alive", True), ("dead", False)):
        found = sorted(w for w, alive in others.items() if alive is wanted)
        if found:
            return verdict, found[0]
    return None, ""
