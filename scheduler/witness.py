"""The second signal before a host is declared dead: what the other workers' probes saw.

Every heartbeat notes its verdict per (host, worker) in the cache (Redis in a fleet); a worker
is named by its Celery node name (`name@machine`), the key of its own direct queue. Before a
failover the worker that lost the host asks for a second opinion: another worker that reached
the host within the isolation time vetoes the failover (the first worker is the one cut off);
another worker that also failed confirms it. A worker that misses a host asks every other
worker it knows of (those that probed it, and those answering Celery's ping) to probe that host
too, through that worker's own queue (ha.ask_others),
since which worker runs beat's heartbeat is chance: without that ask, a cut-off worker that
happened to run every heartbeat for the isolation time judged alone and fenced a healthy host.
A worker judges alone only when no other worker has noted the host, or answered the ask, for
twice the isolation time (there is none, or it is as silent as the host: worker B inside a dead
host B, or its pool is full). Then, where the host is an OVN chassis, OVN is the second signal
(failover.ovn_signal, network/ovn/liveness.py): its ovn-controller catching up with a fresh
NB_Global.nb_cfg through the central databases vetoes the failover, one that does not confirms
it. Only when OVN cannot tell either (no chassis, NB/SB unreachable, northd down) does one
worker's verdict stand alone (always so with the embedded default), and the reason says so."""

from django.core.cache import cache
from django.utils import timezone

from portal import leases

KEY = "nubes:ha:probes:{}"
KEEP_S = 3600  # longer than any isolation time
SILENT_ISOLATIONS = 2  # another worker silent this many isolation times no longer counts


ASKED_KEY = "nubes:ha:asked:{}"


def note(host, alive, *, worker=None, now=None):
    """Record this worker's probe of the host (last one per worker); it answers any ask."""
    now = now or timezone.now()
    worker = worker or leases.worker_name()
    key = KEY.format(host.pk)
    seen = cache.get(key) or {}
    seen[worker] = (bool(alive), now.timestamp())
    cache.set(key, seen, timeout=KEEP_S)  # a lost concurrent update costs one sample, not a verdict
    asked = cache.get(ASKED_KEY.format(host.pk)) or {}
    if asked.pop(worker, None) is not None:
        cache.set(ASKED_KEY.format(host.pk), asked, timeout=KEEP_S)


def asked(host, worker, *, now=None):
    """Note that `worker` was asked to probe the host (the first ask until it answers): it is
    awaited from then on, even if it never probed the host before."""
    key = ASKED_KEY.format(host.pk)
    pending = cache.get(key) or {}
    if worker not in pending:
        pending[worker] = (now or timezone.now()).timestamp()
        cache.set(key, pending, timeout=KEEP_S)


def _others(host, me):
    return {w: seen for w, seen in (cache.get(KEY.format(host.pk)) or {}).items() if w != me}


def second_opinion(host, window_s, *, worker=None, now=None):
    """("alive" | "dead" | None, the other worker) from other workers' probes within window_s."""
    now = now or timezone.now()
    since = now.timestamp() - window_s
    others = {w: alive for w, (alive, at) in _others(host, worker or leases.worker_name()).items() if at >= since}
    for verdict, wanted in (("alive", True), ("dead", False)):
        found = sorted(w for w, alive in others.items() if alive is wanted)
        if found:
            return verdict, found[0]
    return None, ""


def awaited(host, isolation_s, *, worker=None, now=None):
    """(other worker, seconds since it last noted the host or was first asked to) for the other
    worker heard from (or asked) most recently within SILENT_ISOLATIONS isolation times: its
    opinion is awaited before this worker may judge alone. (None, seconds or None) when every
    other worker is silent that long."""
    now = (now or timezone.now()).timestamp()
    me = worker or leases.worker_name()
    last = {w: at for w, (_alive, at) in _others(host, me).items()}
    for w, at in (cache.get(ASKED_KEY.format(host.pk)) or {}).items():
        if w != me:  # asked and not answered yet: heard from (for waiting) since the ask
            last[w] = max(at, last.get(w, at))
    heard = sorted((now - at, w) for w, at in last.items())
    if heard and heard[0][0] < SILENT_ISOLATIONS * isolation_s:
        return heard[0][1], heard[0][0]
    return None, (heard[0][0] if heard else None)


def known_workers(host, *, worker=None, now=None):
    """The other workers that noted the host within KEEP_S (whom to ask for a probe)."""
    since = (now or timezone.now()).timestamp() - KEEP_S
    return sorted(w for w, (_alive, at) in _others(host, worker or leases.worker_name()).items() if at >= since)
