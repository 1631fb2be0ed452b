"""A slow Operation for the worker-loss tests: a real Celery worker process loads this module
(`celery worker -I tests.faults.slow_tasks`) and runs it under run_operation, lease and all."""

import time

from celery import shared_task

from portal.tasks import check_cancel, run_operation

TASK = "tests.faults.slow_operation"


@shared_task(bind=True, name=TASK)
def slow_operation(self, op_id, seconds):
    def work(op):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            check_cancel(op)
            time.sleep(0.2)
        return f"slept {seconds} s"

    return run_operation(op_id, work, self.request.id or "")
