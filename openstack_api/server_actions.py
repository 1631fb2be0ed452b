"""Compute v2.1 server actions (POST /servers/{id}/action) over compute.services."""

from django.db import transaction

from compute.choices import Action
from compute.models import Host
from compute.services import images, migration, serial
from compute.services import instances as services
from network import backends
from network import services as network
from network.models import SecurityGroup
from openstack_api.base import OsError, body_of, reply, require_write
from openstack_api.catalog import base_url
from openstack_api.compute import flavor_of, versioned
from openstack_api.models import PendingResize
from openstack_api.server_consoles import vnc_console_action
from openstack_api.servers import _is_uuid as is_uuid
from openstack_api.servers import _ports as server_ports
from openstack_api.servers import awaits_confirmation, image_of, instance_of, server_body
from portal import audit

CONSOLE_MAX = 64 * 1024
SIMULATED_CONSOLE = "This instance runs on a simulated host (libvirt's test driver): there is no guest, so there is no console output.\n"


def console_output(instance, length):
    """The tail of the serial log libvirt writes (the file here, or over libvirt on a remote host)."""
    if instance.host is None or instance.host.simulated:
        text = SIMULATED_CONSOLE
    elif not instance.serial_log_path:
        text = ""
    else:
        log = serial.serial_log(instance.host.uri, instance.serial_log_path)
        try:
            size = log.size() or 0
            start = max(size - CONSOLE_MAX, 0)
            text = log.read(start, size - start).decode("utf-8", "replace") if size else ""
        except serial.READ_ERRORS as exc:
            raise OsError(409, f"The serial log cannot be read now: {exc}") from exc
    if length is not None:
        text = "".join(text.splitlines(keepends=True)[-length:]) if length > 0 else ""
    return text


SIMPLE = {
    "os-start": Action.START,
    "pause": Action.PAUSE,
    "unpause": Action.UNPAUSE,
    "suspend": Action.SUSPEND,
    "resume": Action.RESUME,
}
NOT_YET = {
    "addFloatingIp": "addFloatingIp (use the Network API's floating IPs)",
    "os-getSerialConsole": "serial remote consoles",
    "os-getSPICEConsole": "SPICE remote consoles",
    "changePassword": "changePassword",
    "shelve": "shelve",
    "unshelve": "unshelve",
    "rescue": "rescue",
    "evacuate": "evacuate",
    "createBackup": "createBackup",
    "shelveOffload": "shelveOffload",
    "unrescue": "unrescue",
    "removeFloatingIp": "removeFloatingIp (use the Network API's floating IPs)",
    "addFixedIp": "addFixedIp (give the server a port through the Network API)",
    "removeFixedIp": "removeFixedIp",
    "forceDelete": "forceDelete (Nubes deletes servers at once, there is no soft delete)",
    "restore": "restore (Nubes deletes servers at once, there is no soft delete)",
    "os-resetState": "os-resetState",
    "resetNetwork": "resetNetwork",
    "injectNetworkInfo": "injectNetworkInfo",
    "trigger_crash_dump": "trigger_crash_dump",
    "os-getRDPConsole": "RDP remote consoles",
    "os-getMKSConsole": "MKS remote consoles",
}


def _arguments(args, name):
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise OsError(400, f"{name} takes an object.")
    return args


def _reboot(request, instance, args):
    kind = str(args.get("type", "")).upper()
    if kind not in ("SOFT", "HARD"):
        raise OsError(400, "reboot type is SOFT or HARD.")
    services.reboot(request.user, instance, kind=kind.lower(), request=request)


def _rebuild(request, instance, args):
    services.rebuild(request.user, instance, image_of(request, args.get("imageRef")), request=request)
    return reply({"server": server_body(request, instance)}, status=202)


def _resize(request, instance, args):
    """Nubes' resize (live where the domain allows it, else cold on a stopped server), then
    VERIFY_RESIZE until confirmResize or revertResize, as Nova shows it."""
    flavor = flavor_of(request, args.get("flavorRef"), status=400)
    pending = PendingResize.objects.filter(instance=instance).first()
    if awaits_confirmation(pending):
        raise OsError(409, "The server waits for confirmResize or revertResize of its last resize.")
    old_flavor = instance.flavor
    with transaction.atomic():
        op = services.resize(request.user, instance, flavor, request=request)
        PendingResize.objects.update_or_create(
            instance=instance, defaults={"old_flavor": old_flavor, "operation": op, "reverting": False}
        )


def _awaiting(instance, action):
    pending = PendingResize.objects.filter(instance=instance).select_related("operation", "old_flavor").first()
    if not awaits_confirmation(pending):
        raise OsError(409, f"Cannot '{action}' instance {instance.uuid}: it is not in VERIFY_RESIZE.")
    return pending


def _confirm_resize(request, instance, args):
    _awaiting(instance, "confirmResize").delete()
    audit.record(request.user, "instance.resize_confirm", instance, request=request)
    return reply(None, status=204)


def _revert_resize(request, instance, args):
    """A resize back to the old flavor, through the same service (quota and checks held)."""
    pending = _awaiting(instance, "revertResize")
    with transaction.atomic():
        op = services.resize(request.user, instance, pending.old_flavor, request=request)
        PendingResize.objects.filter(pk=pending.pk).update(operation=op, reverting=True)


def _target_host(args):
    name = args.get("host")
    if name in (None, ""):
        return None
    host = Host.objects.filter(name=str(name)).first()
    if host is None:
        raise OsError(400, f"Compute host {name} could not be found.")
    return host


def _migrate(request, instance, args, live):
    """A cloud admin's migration through compute's migration service (its checks, and its
    target choice without a host). block_migration true copies the root disk, false does not,
    "auto" copies it when the target does not share its storage (Nova's meaning)."""
    target = _target_host(args)
    block = args.get("block_migration", "auto") if live else "auto"
    if block not in ("auto", True, False):
        raise OsError(400, "block_migration is true, false or 'auto'.")
    options = {}
    if block in (True, False):
        options["copy_storage"] = block
    elif target is not None and instance.host_id:  # without a host the scheduler's pick decides
        options["copy_storage"] = not migration.storage_shared(instance, target)
    migration.start_migration(
        instance, target_host=target, user=request.user, live=live, options=options, request=request
    )


def _security_group(request, args, action):
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise OsError(400, f"{action} needs the security group's name.")
    backends.configured().require("security_groups", "security groups")
    groups = SecurityGroup.objects.filter(project=request.os_project)
    found = list(groups.filter(name=name)[:2]) or (list(groups.filter(uuid=name)) if is_uuid(name) else [])
    if len(found) > 1:
        raise OsError(409, f"Multiple security groups named {name}: give its id.")
    if not found:
        raise OsError(404, f"Security group {name} not found for project {request.os_project.pk}.")
    return found[0]


def _change_security_group(request, instance, args, add):
    """Nova's add/removeSecurityGroup: the group on (or off) every port of the server that has
    port security, through network's update_port (its backend check and Operations)."""
    action = "addSecurityGroup" if add else "removeSecurityGroup"
    group = _security_group(request, args, action)
    ports = [port for port in server_ports(instance) if port.port_security]
    if not ports:
        raise OsError(400, f"Server {instance.uuid} has no port with port security for {group.name}.")
    with transaction.atomic():
        for port in ports:
            current = set(port.security_groups.all())
            if add and group in current:
                raise OsError(400, f"Security group {group.name} is already associated with the instance.")
            if not add and group not in current:
                raise OsError(400, f"Security group {group.name} not associated with the instance.")
            network.update_port(
                request.user, port, security_groups=list(current | {group} if add else current - {group})
            )


def _create_image(request, instance, args):
    """Nova's createImage: a private image of the project from the server's root disk, made in
    a task (compute.services.images.create_from_instance); 202 with the image's Location (the
    microversions Nubes speaks end before 2.45's body)."""
    name = args.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OsError(400, "createImage needs the image's name.")
    properties = args.get("metadata", {})
    if not isinstance(properties, dict):
        raise OsError(400, "createImage metadata is an object of strings.")
    image, _op = images.create_from_instance(request.user, instance, name, properties, request=request)
    return reply(None, status=202, headers={"Location": f"{base_url(request)}image/v2/images/{image.pk}"})


ACTIONS = {
    "createImage": _create_image,
    "addSecurityGroup": lambda request, instance, args: _change_security_group(request, instance, args, add=True),
    "removeSecurityGroup": lambda request, instance, args: _change_security_group(request, instance, args, add=False),
    "reboot": _reboot,
    "rebuild": _rebuild,
    "resize": _resize,
    "confirmResize": _confirm_resize,
    "revertResize": _revert_resize,
    "os-migrateLive": lambda request, instance, args: _migrate(request, instance, args, live=True),
    "migrate": lambda request, instance, args: _migrate(request, instance, args, live=False),
    "os-stop": lambda request, instance, args: services.stop(request.user, instance, request=request),
    "lock": lambda request, instance, args: services.set_lock(request.user, instance, True, request=request),
    "unlock": lambda request, instance, args: services.set_lock(request.user, instance, False, request=request),
}


@versioned
def server_action(request, server_id):
    instance = instance_of(request, server_id)
    data = body_of(request)
    if len(data) != 1:
        raise OsError(400, "A server action is a body with exactly one action.")
    name, args = next(iter(data.items()))
    args = _arguments(args, name)
    if name == "os-getConsoleOutput":
        length = args.get("length")
        try:
            length = None if length in (None, -1, "-1") else int(length)
        except (TypeError, ValueError) as exc:
            raise OsError(400, "length must be an integer.") from exc
        return reply({"output": console_output(instance, length)})
    if name == "os-getVNCConsole":  # readers are refused by the console's own check
        return vnc_console_action(request, instance, args)
    if name in NOT_YET:
        raise OsError(501, f"Nubes does not implement {NOT_YET[name]} yet.")
    if name not in SIMPLE and name not in ACTIONS:
        raise OsError(400, f"Unknown server action {name!r}.")
    require_write(request, "servers")
    if name in SIMPLE:
        services.act(request.user, instance, SIMPLE[name], request=request)
        return reply(None, status=202)
    response = ACTIONS[name](request, instance, args)
    return response if hasattr(response, "status_code") else reply(None, status=202)
