"""What a replica leaves on its primary, removed when it is deleted or promoted: its pg_hba.conf
line, its replication slot (the WAL the primary keeps for it) and, with the last replica, the
replication role (the template's replication-revoke hook, run on the primary through its agent).
Never fails the delete or the promotion: when the primary cannot be reached the Operation says
what was left there (detail "left_on_primary" and its message)."""

import hypervisor as hv
from catalog.models import Service
from catalog.tasks import _run
from portal import operations

REVOKE_HOOK = "replication-revoke"
REVOKE_TIMEOUT_S = 120


def _record(op, key, value):
    op.detail = {**op.detail, key: value}
    op.save(update_fields=["detail"])


def revoke_on_primary(op, primary_id, address, slot):
    """Run replication-revoke on the primary ``primary_id`` for the replica at ``address`` (and its
    ``slot``); the note the Operation's message ends with."""
    primary = Service.objects.select_related("template", "instance__host").filter(pk=primary_id).first()
    if primary is None or primary.instance is None:
        return ""  # the primary (and its VM) is gone: nothing was left anywhere
    what = f"the pg_hba.conf line for {address or 'the replica'}" + (f" and replication slot {slot}" if slot else "")
    left = {"primary": primary.pk, "primary_name": primary.name, "address": address, "slot": slot or None}
    if REVOKE_HOOK not in primary.template.hooks:
        reason = f"template {primary.template.name} has no {REVOKE_HOOK} hook"
    elif address is None:
        reason = "the replica's address on the primary's network is not known"
    else:
        operations.progress(op, max(op.progress, 5), f"removing {what} from {primary.name}")
        arguments = {"address": address, **({"slot": slot} if slot else {})}
        try:
            result = _run(primary, primary.template.hooks[REVOKE_HOOK], arguments, timeout=REVOKE_TIMEOUT_S)
        except hv.HypervisorError as exc:  # the script failed, the agent or the host did not answer
            reason = str(exc)
        else:
            _record(op, "revoked_on_primary", {**left, "output": result.output})
            return f"; {what} removed from {primary.name}"
    _record(op, "left_on_primary", {**left, "reason": reason[:500]})
    return f"; left on {primary.name}: {what} ({reason[:200]})"
