"""Nova's os-server-groups over the scheduler's server groups (project-owned, one policy each):
list, create, show, delete; and the `group` scheduler hint of a server create, which places the
server by the group's policy and makes it a member (scheduler.services.server_groups)."""

from openstack_api.base import OsError, body_of, limit_of, reply, require_write
from openstack_api.compute import versioned
from portal import audit
from scheduler.choices import ServerGroupPolicy
from scheduler.models import ServerGroup

SOFT_POLICIES_FROM = (2, 15)  # Nova: soft-affinity and soft-anti-affinity from microversion 2.15
OWNER_FROM = (2, 13)  # project_id and user_id in the body


def _groups(request):
    return ServerGroup.objects.filter(project=request.os_project).prefetch_related("members").order_by("pk")


def group_of(request, group_id, status=404):
    group = _groups(request).filter(pk=group_id).first() if str(group_id).isdigit() else None
    if group is None:
        raise OsError(status, f"Server group {group_id} could not be found.")
    return group


def group_body(request, group):
    body = {
        "id": str(group.pk),
        "name": group.name,
        "policies": [group.policy],
        "members": [str(i.uuid) for i in group.members.all() if i.state != "deleted"],
        "metadata": {},
    }
    if request.os_version >= OWNER_FROM:
        body.update(project_id=str(group.project_id), user_id="")  # Nubes does not record who made a group
    return body


@versioned
def group_list(request):
    if request.GET.get("all_projects", "").lower() in ("1", "true", "yes", "on"):
        raise OsError(501, "Nubes does not implement all_projects yet: a token lists its own project's groups.")
    groups = list(_groups(request))
    offset = request.GET.get("offset") or "0"
    if not offset.isdigit():
        raise OsError(400, "offset must be a non-negative integer.")
    groups = groups[int(offset) :]
    limit = limit_of(request)
    groups = groups if limit is None else groups[:limit]
    return reply({"server_groups": [group_body(request, g) for g in groups]})


@versioned
def group_create(request):
    require_write(request, "server groups")
    data = body_of(request, "server_group")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OsError(400, "A server group needs a name.")
    policies = data.get("policies")
    if not isinstance(policies, list) or len(policies) != 1:
        raise OsError(400, "policies must be a list of exactly one policy.")
    policy = policies[0]
    allowed = [ServerGroupPolicy.AFFINITY, ServerGroupPolicy.ANTI_AFFINITY]
    if request.os_version >= SOFT_POLICIES_FROM:
        allowed += [ServerGroupPolicy.SOFT_AFFINITY, ServerGroupPolicy.SOFT_ANTI_AFFINITY]
    if policy not in allowed:
        raise OsError(400, f"Invalid policy {policy!r}: one of {', '.join(allowed)} at this microversion.")
    if _groups(request).filter(name=name).exists():  # Nova allows equal names; Nubes names a group once per project
        raise OsError(409, f"A server group named {name!r} exists in this project already.")
    group = ServerGroup(project=request.os_project, name=name, policy=policy)
    group.full_clean()
    group.save()
    audit.record(request.user, "servergroup.create", group, request=request, policy=policy)
    return reply({"server_group": group_body(request, group)})


@versioned
def group_show(request, group_id):
    return reply({"server_group": group_body(request, group_of(request, group_id))})


@versioned
def group_delete(request, group_id):
    group = group_of(request, group_id)
    require_write(request, "server groups")
    audit.record(request.user, "servergroup.delete", group, request=request)
    group.delete()
    return reply(None, status=204)


def hinted_group(request, hints):
    """The server group a create's `os:scheduler_hints` names (`group`), or None; other hints 501."""
    if not hints:
        return None
    if not isinstance(hints, dict):
        raise OsError(400, "os:scheduler_hints must be an object.")
    others = sorted(set(hints) - {"group"})
    if others:
        raise OsError(501, f"Nubes does not implement the scheduler hints {', '.join(others)} yet (only group).")
    group_id = hints["group"]
    if isinstance(group_id, list) and len(group_id) == 1:  # novaclient sends a one-item list
        group_id = group_id[0]
    return group_of(request, group_id, status=400)
