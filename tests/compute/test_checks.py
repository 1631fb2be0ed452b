"""nubes.W003: a host registered by a local URI while Celery uses a network broker."""

from django.core.checks import run_checks

from compute.checks import LOCAL_HOST_BROKER, is_local_uri
from compute.models import Host


def w003(settings, broker):
    settings.CELERY_BROKER_URL = broker
    return [m for m in run_checks() if m.id == LOCAL_HOST_BROKER]


def test_a_local_uri_with_a_network_broker_is_warned_about_naming_what_breaks(settings, host_a, cluster):
    Host.objects.create(name="lab-a", uri="qemu:///system", cluster=cluster)
    Host.objects.create(name="lab-b", uri="qemu+tcp://10.99.0.2/system", cluster=cluster)
    [warning] = w003(settings, "redis://:secret@redis.example:6379/0")
    assert warning.obj == "lab-a" and "qemu:///system" in warning.msg
    assert "redis:// broker" in warning.msg and "secret" not in warning.msg
    assert "cloud-init seeds" in warning.msg and "console" in warning.msg
    assert "qemu+tcp://" in warning.hint


def test_no_warning_with_the_in_process_broker_or_network_uris(settings, host_a, cluster):
    Host.objects.create(name="lab-a", uri="qemu:///system", cluster=cluster)
    assert w003(settings, "memory://") == []
    Host.objects.filter(name="lab-a").update(uri="qemu+tls://a.example/system")
    assert w003(settings, "amqp://rabbit.example//") == []


def test_which_uris_are_local():
    assert is_local_uri("qemu:///system") and is_local_uri("qemu:///session")
    assert not is_local_uri("qemu+ssh://root@far/system") and not is_local_uri("test:///default")
