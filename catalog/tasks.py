"""Catalog tasks: wait for compute's Operations, talk to the guest through the agent gateway."""

import time

from celery import shared_task
from django.utils import timezone

import hypervisor as hv
from catalog import sealed
from catalog.models import Service, ServiceState
from portal import operations
from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import LONG_JOB, run_operation

BUILD_WAIT_S = 900  # the instance's own create (image copy, boot) under TCG
AGENT_WAIT_S = 600  # from "running" to the health script answering (boot + PostgreSQL; 70-145 s under TCG at load 16)
POLL_S = 2.0
# One health script under TCG on a loaded host took 36 s: a shorter limit gives up on a script
# that is about to answer and, asked again, leaves another running in the guest beside it.
HEALTH_TIMEOUT_S = 120
HEALTH_ACTION = "health"
AGENT_DOWN = (hv.GuestAgentUnavailable, hv.GuestAgentTimeout)
# The listings the service's page shows, by the action that lists them; an action whose name
# starts with the same word (user-create, db-grant) is followed by that listing.
LISTINGS = {"user-list": "users", "db-list": "databases"}
LOG_TAIL_BYTES = 16 * 1024


def _listing_for(action):
    word = action.split("-", 1)[0]
    return next((name for name in LISTINGS if name.split("-", 1)[0] == word), None)


def _remember(service, key, value):
    """Store what the guest reported under inventory[key] (one UPDATE of that row's field)."""
    service.refresh_from_db(fields=["inventory"])
    service.inventory = {**service.inventory, key: {**value, "at": timezone.now().isoformat()}}
    Service.objects.filter(pk=service.pk).update(inventory=service.inventory)


def _list_after(service, action, output):
    """Keep the page's listing current: the output of a list action, or the listing run after
    a change (a failing listing does not fail the change that succeeded)."""
    listing = action if action in LISTINGS else _listing_for(action)
    if listing is None or listing not in service.template.actions:
        return
    if listing != action:
        script = service.template.actions[listing]["script"]
        try:
            output = _run(service, script, {}).output
        except (hv.GuestScriptFailed, *AGENT_DOWN):
            return
    _remember(service, LISTINGS[listing], {"output": output})


def _run(service, script, arguments):
    instance, template = service.instance, service.template
    return hv.run_script(instance.host.uri, str(instance.uuid), script, arguments, allowed=template.allowed_scripts())


def _wait_for(op_id, limit_s, sleep=time.sleep):
    """The finished Operation ``op_id`` (compute's), or ActionError after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        op = Operation.objects.get(pk=op_id)
        if op.status not in ACTIVE_STATUSES:
            return op
        if time.monotonic() > deadline:
            raise ActionError(f"{op.kind} of {op.target_name} still {op.status} after {limit_s} s")
        sleep(POLL_S)


def _set_state(service, state, reason=""):
    Service.objects.filter(pk=service.pk).update(state=state, status_reason=reason[:500])
    service.state, service.status_reason = state, reason


def _health(service, sleep=time.sleep):
    """Wait for the guest agent (and the template's health script); the reason it is degraded, or ''."""
    instance, template = service.instance, service.template
    uri, uuid = instance.host.uri, str(instance.uuid)
    deadline, last = time.monotonic() + AGENT_WAIT_S, None
    while time.monotonic() < deadline:
        try:
            if HEALTH_ACTION in template.actions:
                script = template.actions[HEALTH_ACTION]["script"]
                hv.run_script(uri, uuid, script, {}, allowed=template.allowed_scripts(), timeout=HEALTH_TIMEOUT_S)
            else:
                hv.guest_ping(uri, uuid)
            return ""
        except hv.GuestAgentUnavailable as exc:
            if instance.host.simulated:
                return f"no guest agent answers: {exc}"
            last = exc
        except (hv.GuestAgentTimeout, hv.GuestScriptFailed) as exc:
            last = exc
        sleep(POLL_S)
    # Worded "guest agent: ..." like an action's agent failure: the next action that gets an
    # answer makes the service active again.
    return f"guest agent: no answer {AGENT_WAIT_S} s after the start: {last}"


@shared_task(bind=True, name="catalog.tasks.build_service", **LONG_JOB)
def build_service(self, op_id):
    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        built = _wait_for(op.detail["instance_operation"], BUILD_WAIT_S)
        if built.status != OperationStatus.SUCCEEDED:
            _set_state(service, ServiceState.ERROR, f"instance: {built.error or built.message or built.status}")
            raise ActionError(f"The service's instance was not built: {built.error or built.status}")
        operations.progress(op, 60, "instance running; waiting for the guest agent")
        service.instance.refresh_from_db()
        reason = _health(service)
        _set_state(service, ServiceState.DEGRADED if reason else ServiceState.ACTIVE, reason)
        return f"Service {service.name} {service.state}" + (f": {reason}" if reason else "")

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.run_action")
def run_action(self, op_id, sealed_arguments):
    def work(op):
        arguments = sealed.unseal(sealed_arguments)
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        try:
            result = _run(service, op.detail["script"], arguments)
        except AGENT_DOWN as exc:
            _set_state(service, ServiceState.DEGRADED, f"guest agent: {exc}")
            raise
        if service.state == ServiceState.DEGRADED and service.status_reason.startswith("guest agent"):
            _set_state(service, ServiceState.ACTIVE)
        op.detail = {**op.detail, "output": result.output, "duration_s": round(result.duration_s, 2)}
        op.save(update_fields=["detail"])
        _list_after(service, op.detail["action"], result.output)
        return f"{op.detail['action']} done in {result.duration_s:.1f} s"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.read_log")
def read_log(self, op_id):
    """The tail of the template's server log, read through the agent into the service's inventory."""

    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        instance, template = service.instance, service.template
        chunk = hv.guest_file_read(
            instance.host.uri,
            str(instance.uuid),
            template.log_path,
            allowed_prefixes=template.readable_paths,
            offset=-LOG_TAIL_BYTES,
        )
        text = chunk.data.decode("utf-8", errors="replace")
        if chunk.offset > 0:  # the first line was cut by the offset
            text = text.partition("\n")[2]
        _remember(service, "log", {"text": text, "path": template.log_path})
        return f"{len(chunk.data)} bytes of {template.log_path}"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.delete_service", **LONG_JOB)
def delete_service(self, op_id):
    def work(op):
        service = Service.objects.get(pk=op.target_id)
        instance_op = op.detail.get("instance_operation")
        if instance_op is not None:
            done = _wait_for(instance_op, BUILD_WAIT_S)
            if done.status != OperationStatus.SUCCEEDED:
                _set_state(service, ServiceState.ERROR, f"instance delete: {done.error or done.status}")
                raise ActionError(f"The service's instance was not deleted: {done.error or done.status}")
        name = service.name
        service.delete()
        return f"Service {name} deleted"

    return run_operation(op_id, work, self.request.id or "")
