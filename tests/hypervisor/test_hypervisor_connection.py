import threading

import libvirt
import pytest

from hypervisor import HostUnreachable, InvalidConfig, connection, get_connection, is_simulated


class FakeLibvirtError(libvirt.libvirtError):
    def __init__(self, code: int, domain: int = libvirt.VIR_FROM_REMOTE):
        Exception.__init__(self, "fake")
        self.err = (code, domain, "fake failure", 2, None, None, None, 0, 0)


class FakeConn:
    def __init__(self, alive: bool = True):
        self.alive = alive
        self.keepalive = None
        self.closed = False

    def isAlive(self):
        return self.alive

    def setKeepAlive(self, interval, count):
        self.keepalive = (interval, count)

    def close(self):
        self.closed = True


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(connection, "_sleep", recorded.append)
    return recorded


def test_it_reuses_one_connection_per_uri(host_a):
    assert get_connection(host_a) is get_connection(host_a)


def test_it_keeps_a_simulated_hosts_state_between_calls(host_a, small_domain):
    # A second open() of a node file would be an empty host; the pool must prevent that.
    assert get_connection(host_a).lookupByUUIDString(small_domain).name() == "small"


def test_it_gives_a_fresh_simulated_host_after_close_all(host_a, small_domain):
    connection.close_all()
    assert get_connection(host_a).listAllDomains() == []


@pytest.mark.parametrize(
    "uri",
    [
        "xen:///system",
        "http://example.com",
        "test:///rel/../x",
        "test://host/x.xml",
        "qemu+ssh:///system",
        "vbox:///session",
    ],
)
def test_it_rejects_unsupported_uris(uri):
    with pytest.raises(InvalidConfig):
        get_connection(uri)


@pytest.mark.parametrize(
    "uri,expected", [("test:///default", True), ("qemu:///system", False), ("qemu+tls://h1/system", False)]
)
def test_is_simulated_is_true_only_for_test_uris(uri, expected):
    assert is_simulated(uri) is expected


def test_it_opens_a_uri_once_under_concurrent_callers(monkeypatch):
    opened = []

    def slow_open(uri):
        opened.append(uri)
        threading.Event().wait(0.05)
        return FakeConn()

    monkeypatch.setattr(connection.libvirt, "open", slow_open)
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_connection("qemu:///system"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 1
    assert len({id(conn) for conn in results}) == 1


def test_it_retries_with_exponential_backoff(monkeypatch, sleeps):
    attempts = []

    def flaky_open(uri):
        attempts.append(uri)
        if len(attempts) < 3:
            raise FakeLibvirtError(libvirt.VIR_ERR_NO_CONNECT)
        return FakeConn()

    monkeypatch.setattr(connection.libvirt, "open", flaky_open)
    assert isinstance(get_connection("qemu+tcp://10.0.0.9/system"), FakeConn)
    assert sleeps == [0.5, 1.0]


def test_it_gives_up_after_the_last_attempt(monkeypatch, sleeps):
    def dead_open(uri):
        raise FakeLibvirtError(libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC)

    monkeypatch.setattr(connection.libvirt, "open", dead_open)
    with pytest.raises(HostUnreachable):
        get_connection("qemu+ssh://root@10.0.0.9/system")
    assert sleeps == [0.5, 1.0, 2.0]


def test_it_does_not_retry_errors_that_cannot_heal(monkeypatch, sleeps):
    def broken_open(uri):
        raise FakeLibvirtError(libvirt.VIR_ERR_INVALID_ARG)

    monkeypatch.setattr(connection.libvirt, "open", broken_open)
    with pytest.raises(HostUnreachable):
        get_connection("qemu:///system")
    assert sleeps == []


def test_it_gives_up_waiting_for_a_hanging_open(monkeypatch, sleeps):
    release = threading.Event()
    monkeypatch.setattr(connection.libvirt, "open", lambda uri: release.wait(5) and FakeConn())
    monkeypatch.setattr(connection, "OPEN_TIMEOUT_S", 0.05)
    monkeypatch.setattr(connection, "OPEN_ATTEMPTS", 1)
    with pytest.raises(HostUnreachable, match="timed out"):
        get_connection("qemu+ssh://10.0.0.9/system")
    release.set()


def test_it_sets_keepalive_on_remote_uris_only(monkeypatch):
    monkeypatch.setattr(connection.libvirt, "open", lambda uri: FakeConn())
    remote = get_connection("qemu+tls://h1.example/system")
    local = get_connection("qemu:///system")
    assert remote.keepalive == (connection.KEEPALIVE_INTERVAL_S, connection.KEEPALIVE_COUNT)
    assert local.keepalive is None


def test_it_reopens_a_connection_that_died(monkeypatch):
    monkeypatch.setattr(connection.libvirt, "open", lambda uri: FakeConn())
    first = get_connection("qemu+tcp://h1/system")
    first.alive = False
    second = get_connection("qemu+tcp://h1/system")
    assert second is not first
    assert first.closed


def test_a_liveness_ping_tries_to_open_once(monkeypatch, sleeps):
    from hypervisor import host_ping

    opens = []

    def silent(uri):
        opens.append(uri)
        raise HostUnreachable("connection refused", uri=uri)

    monkeypatch.setattr(connection, "_open_with_timeout", silent)
    with pytest.raises(HostUnreachable):
        host_ping("qemu+tcp://10.0.0.9/system")
    assert opens == ["qemu+tcp://10.0.0.9/system"] and sleeps == []
