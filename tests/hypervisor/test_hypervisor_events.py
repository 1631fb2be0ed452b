import queue

from hypervisor import domain_destroy, domain_start, unwatch_lifecycle, watch_lifecycle


def test_it_delivers_lifecycle_events_as_plain_strings(host_a, small_domain):
    events = queue.Queue()
    watch = watch_lifecycle(host_a, lambda *event: events.put(event))
    domain_start(host_a, small_domain)
    domain_destroy(host_a, small_domain)
    received = [events.get(timeout=5), events.get(timeout=5)]
    unwatch_lifecycle(host_a, watch)
    assert received == [(host_a, small_domain, "started", "booted"), (host_a, small_domain, "stopped", "destroyed")]
