"""Compute v2.1 server actions (POST /servers/{id}/action) over compute.services."""

from compute.choices import Action
from compute.services import instances as services
from openstack_api.base import OsError, body_of, reply, require_write
from openstack_api.compute import versioned
from openstack_api.servers import image_of, instance_of, server_body

CONSOLE_MAX = 64 * 1024
SIMULATED_CONSOLE = "This instance runs on a simulated host (libvirt's test driver): there is no guest, so there is no console output.\n"


def console_output(instance, length):
    """The tail of the serial log libvirt writes (a file on the portal's machine)."""
    if instance.host is None or instance.host.simulated:
        text = SIMULATED_CONSOLE
    elif not instance.serial_log_path:
        text = ""
    else:
        try:
            with open(instance.serial_log_path, "rb") as log:
                log.seek(0, 2)
                log.seek(max(log.tell() - CONSOLE_MAX, 0))
                text = log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise OsError(409, f"The serial log cannot be read here: {exc}") from exc
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
    "resize": "resize (Nubes resizes at once, without Nova's confirm / revert step)",
    "confirmResize": "confirmResize",
    "revertResize": "revertResize",
    "createImage": "createImage",
    "os-migrateLive": "live migration through this API",
    "migrate": "cold migration through this API",
    "addFloatingIp": "addFloatingIp (use the Network API's floating IPs)",
    "os-getVNCConsole": "remote consoles",
    "os-getSerialConsole": "remote consoles",
    "changePassword": "changePassword",
    "shelve": "shelve",
    "unshelve": "unshelve",
    "rescue": "rescue",
    "evacuate": "evacuate",
    "createBackup": "createBackup",
    "addSecurityGroup": "addSecurityGroup",
    "removeSecurityGroup": "removeSecurityGroup",
}


@versioned
def server_action(request, server_id):
    instance = instance_of(request, server_id)
    data = body_of(request)
    if len(data) != 1:
        raise OsError(400, "A server action is a body with exactly one action.")
    name, args = next(iter(data.items()))
    if name == "os-getConsoleOutput":
        length = (args or {}).get("length")
        try:
            length = None if length in (None, -1, "-1") else int(length)
        except (TypeError, ValueError) as exc:
            raise OsError(400, "length must be an integer.") from exc
        return reply({"output": console_output(instance, length)})
    require_write(request, "servers")
    if name in SIMPLE:
        services.act(request.user, instance, SIMPLE[name], request=request)
    elif name == "os-stop":
        services.stop(request.user, instance, request=request)
    elif name == "reboot":
        kind = str((args or {}).get("type", "")).upper()
        if kind not in ("SOFT", "HARD"):
            raise OsError(400, "reboot type is SOFT or HARD.")
        services.reboot(request.user, instance, kind=kind.lower(), request=request)
    elif name == "rebuild":
        image = image_of(request, (args or {}).get("imageRef"))
        services.rebuild(request.user, instance, image, request=request)
        return reply({"server": server_body(request, instance)}, status=202)
    elif name in ("lock", "unlock"):
        services.set_lock(request.user, instance, name == "lock", request=request)
    elif name in NOT_YET:
        raise OsError(501, f"Nubes does not implement {NOT_YET[name]} yet.")
    else:
        raise OsError(400, f"Unknown server action {name!r}.")
    return reply(None, status=202)
