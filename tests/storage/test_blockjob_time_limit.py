"""A block job whose task reaches its soft time limit is aborted before the Operation fails:
libvirt must not go on copying into a disk the portal has unlocked. libvirt's test driver has no
block jobs, so this runs on the gateway's modelled job (simulated), the limit raised the way
Celery's prefork pool raises it: a signal handler in the task's thread."""

import signal
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import hypervisor as hv
from portal import operations
from portal.models import Operation
from portal.tasks import run_operation
from storage.tasks.volumes import run_block_job

NODE = Path(__file__).resolve().parents[2] / "hypervisor" / "nodes" / "host-a.xml"


@pytest.fixture
def domain():
    hv.close_all()
    uri = f"test://{NODE}"
    spec = hv.DomainSpec(name="limited", memory_kib=524288, vcpus=1, max_vcpus=1, instance_id="i", project_id="p")
    yield uri, hv.domain_define(uri, hv.build_domain_xml(spec))
    hv.forget_simulated_jobs()
    hv.close_all()


def _soft_limit(signum, frame):
    raise SoftTimeLimitExceeded()


def test_the_soft_time_limit_aborts_the_block_job_before_the_operation_fails(project_a, domain, settings):
    uri, uuid = domain
    settings.NUBES_BLOCKJOB_POLL_S = 1  # the modelled pull needs 4 looks: the limit comes first
    op = operations.begin("volume.flatten", project_a)
    seen = {}

    def work(op):
        hv.block_pull(uri, uuid, "vda")
        previous = signal.signal(signal.SIGALRM, _soft_limit)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            run_block_job(op, uri, uuid, "vda")
        finally:
            signal.signal(signal.SIGALRM, previous)
            seen["job after"] = hv.block_job(uri, uuid, "vda")
            seen["status then"] = Operation.objects.get(pk=op.pk).status

    run_operation(op.pk, work)
    op.refresh_from_db()
    assert seen == {"job after": None, "status then": "running"}  # aborted while the Operation ran
    assert op.status == "failed" and "time limit" in op.error
