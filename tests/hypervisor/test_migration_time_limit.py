"""A live migration whose task reaches its soft time limit aborts the libvirt job and waits for
it to wind down before the error reaches the caller. libvirt's test driver cannot migrate, so
the domain here is a stand-in with libvirt's calls (migrate3 blocks until abortJob), the limit
raised from the progress callback as Celery's signal handler would raise it there."""

import threading

import libvirt
import pytest
from celery.exceptions import SoftTimeLimitExceeded

from hypervisor import MigrationOptions, migration


class MigratingDomain:
    """migrate3 runs until abortJob; jobStats reports a running job meanwhile."""

    def __init__(self):
        self.aborted = threading.Event()
        self.calls = []

    def migrate3(self, dst, params, flags):
        self.calls.append("migrate3")
        if not self.aborted.wait(10):
            return
        self.calls.append("migrate3 ended")
        raise libvirt.libvirtError("operation aborted: migration job: canceled by client")

    def jobStats(self, flags=0):
        return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "data_total": 100, "data_processed": 10}

    def abortJob(self):
        self.calls.append("abortJob")
        self.aborted.set()


def test_the_soft_time_limit_aborts_the_migration_job_first(monkeypatch):
    dom = MigratingDomain()
    monkeypatch.setattr(migration, "lookup_domain", lambda uri, uuid: dom)
    monkeypatch.setattr(migration, "get_connection", lambda uri: object())
    monkeypatch.setattr(migration, "POLL_INTERVAL_S", 0.05)

    def on_progress(progress):
        raise SoftTimeLimitExceeded()

    with pytest.raises(SoftTimeLimitExceeded):
        migration.migrate_domain("qemu+tcp://a/system", "qemu+tcp://b/system", "u", MigrationOptions(), on_progress)
    assert dom.calls == ["migrate3", "abortJob", "migrate3 ended"]  # the job ended before the error came out
