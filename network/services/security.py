"""Verbs for security groups and their rules. Every project has a default group: all egress
allowed, ingress only from members of the same group."""

from django.db import IntegrityError, transaction

from network import backends
from network.choices import Direction, EtherType, State
from network.models import SecurityGroup, SecurityGroupRule
from network.services.common import REMOVE_TASK, queue, save_changes
from network.tasks import objects as object_tasks
from portal import operations
from portal.errors import ActionError, Conflict

DEFAULT_GROUP_NAME = "default"


def ensure_default_group(project):
    group = SecurityGroup.objects.filter(project=project, is_default=True).first()
    if group is not None:
        return group
    try:
        with transaction.atomic():
            group = SecurityGroup.objects.create(
                project=project,
                name=DEFAULT_GROUP_NAME,
                is_default=True,
                description="Egress allowed; ingress from this group only",
            )
            for ethertype in (EtherType.IPV4, EtherType.IPV6):
                SecurityGroupRule.objects.create(
                    project=project, group=group, direction=Direction.EGRESS, ethertype=ethertype
                )
                SecurityGroupRule.objects.create(
                    project=project, group=group, direction=Direction.INGRESS, ethertype=ethertype, remote_group=group
                )
    except IntegrityError:  # made concurrently by another request
        group = SecurityGroup.objects.get(project=project, is_default=True)
    return group


def create_security_group(user, project, *, name, description=""):
    backends.configured().require("security_groups", "security groups")
    group = SecurityGroup(project=project, name=name, description=description)
    group.full_clean()
    with transaction.atomic():
        group.save()
        ensure_default_group(project)
        return group, queue("security_group.create", group, user)


def update_security_group(user, group, **fields):
    return save_changes(user, group, "security_group.update", fields)


def delete_security_group(user, group):
    if group.is_default:
        raise Conflict("The default security group stays as long as its project.")
    if group.ports.exists():
        raise Conflict("Ports still use this security group.")
    if group.referenced_by.exclude(group=group).exists():
        raise Conflict("Rules of other groups refer to this group.")
    with transaction.atomic():
        SecurityGroup.objects.filter(pk=group.pk).update(state=State.DELETING)
        return queue("security_group.delete", group, user, task=REMOVE_TASK)


def create_rule(user, group, **fields):
    """A rule applies at once to every port in the group (it is one ACL on the port group)."""
    backends.configured().require("security_groups", "security groups")
    if group.state == State.DELETING:
        raise Conflict("The security group is being deleted.")
    rule = SecurityGroupRule(project=group.project, group=group, **fields)
    rule.full_clean()
    duplicate = SecurityGroupRule.objects.filter(
        group=group,
        direction=rule.direction,
        ethertype=rule.ethertype,
        protocol=rule.protocol,
        port_range_min=rule.port_range_min,
        port_range_max=rule.port_range_max,
        remote_cidr=rule.remote_cidr,
        remote_group=rule.remote_group,
    )
    if duplicate.exists():
        raise Conflict("The group already has this rule.")
    with transaction.atomic():
        rule.save()
        return rule, queue("security_group_rule.create", rule, user)


def delete_rule(user, rule):
    """The rule goes from the database now; the Operation takes its ACL out of the group."""
    group = rule.group
    if group.state == State.DELETING:
        raise ActionError("The security group is being deleted.")
    with transaction.atomic():
        op = queue("security_group_rule.delete", group, user)
        rule.delete()
    return op


def remove_default_groups(project, user=None):
    """Delete the project's default security groups with their rules (the project is being
    deleted); once committed, an Operation per group removes its port group from the backend
    (if that fails, the sync reports the port group as an orphan)."""

    for group in SecurityGroup.objects.filter(project=project, is_default=True):
        name = group.port_group_name
        group.delete()  # its rules go with it
        op = operations.begin_untargeted(
            "security_group.delete", name=f"default group of {project.name}", user=user, detail={"port_group": name}
        )
        operations.dispatch(object_tasks.remove_port_group, op, name)
