"""Compute v2.1 servers over compute.services: create, list (details, filters, paging), show,
rename, delete, addresses, and os-volume_attachments (the volumes: openstack_api.volume).
Status, vm_state, task_state and power_state are Nova's values."""

import base64
import binascii
import hashlib
import re
from functools import partial

from django.db import transaction

from compute.choices import InstanceState, PowerState, RebootKind
from compute.models import Image, Instance, KeyPair
from compute.services import instances as services
from compute.services import metadata as metadata_service
from network.models import Network, Port, SecurityGroup
from network.services.security import DEFAULT_GROUP_NAME
from openstack_api import volume
from openstack_api.base import OsError, after_marker, body_of, iso, limit_of, link, reply, require_write
from openstack_api.compute import AVAILABILITY_ZONE, bookmark, flavor_of, links, versioned
from openstack_api.models import PendingResize
from openstack_api.server_groups import hinted_group
from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.models import Operation
from scheduler.services import server_groups
from storage.models import Volume

# Nova's power_state numbers.
POWER = {
    PowerState.NOSTATE: 0,
    PowerState.RUNNING: 1,
    PowerState.BLOCKED: 1,
    PowerState.PAUSED: 3,
    PowerState.SHUTDOWN: 4,
    PowerState.SHUTOFF: 4,
    PowerState.SUSPENDED: 4,
    PowerState.CRASHED: 6,
    PowerState.PMSUSPENDED: 7,
    PowerState.VANISHED: 0,
}
# Nubes state -> (Nova status, vm_state).
STATUS = {
    InstanceState.BUILDING: ("BUILD", "building"),
    InstanceState.ACTIVE: ("ACTIVE", "active"),
    InstanceState.SHUTOFF: ("SHUTOFF", "stopped"),
    InstanceState.PAUSED: ("PAUSED", "paused"),
    InstanceState.SUSPENDED: ("SUSPENDED", "suspended"),
    InstanceState.ERROR: ("ERROR", "error"),
    InstanceState.DELETED: ("DELETED", "deleted"),
}
# The running Operation's kind -> Nova's task_state.
TASK_STATE = {
    "instance.create": "spawning",
    "instance.start": "powering-on",
    "instance.stop": "powering-off",
    "instance.reboot": "rebooting",
    "instance.pause": "pausing",
    "instance.unpause": "unpausing",
    "instance.suspend": "suspending",
    "instance.resume": "resuming",
    "instance.rebuild": "rebuilding",
    "instance.resize": "resize_migrating",
    "instance.delete": "deleting",
    "instance.migrate": "migrating",
}
# A task_state -> the status Nova shows while it lasts (on an ACTIVE or SHUTOFF server).
BUSY_STATUS = {
    "rebooting": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "rebuilding": "REBUILD",
    "resize_migrating": "RESIZE",
    "resize_reverting": "REVERT_RESIZE",
    "migrating": "MIGRATING",
}
MAX_LIMIT = 1000  # Nova's osapi_max_limit: a longer list is paged with servers_links


# --- servers ---------------------------------------------------------------------------------

TRUE_WORDS = ("", "1", "t", "true", "on", "y", "yes")
FALSE_WORDS = ("0", "f", "false", "off", "n", "no")


def _instances(request):
    instances = Instance.objects.live().filter(project=request.os_project)
    return instances.select_related("flavor", "image", "key_pair", "host")


def instance_of(request, server_id):
    instance = _instances(request).filter(uuid=server_id).first() if _is_uuid(server_id) else None
    if instance is None:
        raise OsError(404, f"Instance {server_id} could not be found.")
    return instance


def _is_uuid(value):
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", str(value)))


def _port_query():
    related = Port.objects.select_related("network").prefetch_related(
        "ip_allocations__subnet", "security_groups", "floating_ips__allocation"
    )
    return related.order_by("created", "id")


def _ports(instance):
    return list(_port_query().filter(instance=instance))


class Related:
    """What a server's body shows from other tables, read for a whole page at once (one query
    per kind, not per server): its running Operation, a resize waiting for confirmation, ports
    and attached volumes."""

    def __init__(self, instances):
        ids = [i.pk for i in instances]
        self.running = {
            int(op.target_id): op
            for op in Operation.objects.filter(
                target_type=Instance._meta.label_lower,
                target_id__in=[str(pk) for pk in ids],
                status__in=ACTIVE_STATUSES,
            )
        }
        self.pending = {
            p.instance_id: p for p in PendingResize.objects.filter(instance_id__in=ids).select_related("operation")
        }
        self.ports, self.volumes = {}, {}
        for port in _port_query().filter(instance_id__in=ids):
            self.ports.setdefault(port.instance_id, []).append(port)
        for attached in Volume.objects.filter(instance_id__in=ids).order_by("id"):
            self.volumes.setdefault(attached.instance_id, []).append(attached)

    @classmethod
    def of(cls, instance):
        return cls([instance])


def addresses(instance, ports):
    found = {}
    for port in ports:
        for allocation in port.ip_allocations.all():
            found.setdefault(port.network.name or str(port.network.uuid), []).append(
                {
                    "version": allocation.subnet.ip_version,
                    "addr": allocation.address,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                }
            )
        for fip in port.floating_ips.all():
            found.setdefault(port.network.name or str(port.network.uuid), []).append(
                {
                    "version": 4,
                    "addr": fip.allocation.address,
                    "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                }
            )
    return found


def server_status(instance, running, pending=None):
    """(status, vm_state, task_state) as Nova reports them."""
    task_state = TASK_STATE.get(running.kind) if running is not None else None
    if instance.state == InstanceState.DELETING:
        stopped = instance.power_state in (PowerState.SHUTOFF, PowerState.NOSTATE)
        return ("SHUTOFF", "stopped", "deleting") if stopped else ("ACTIVE", "active", "deleting")
    status, vm_state = STATUS.get(instance.state, ("UNKNOWN", "error"))
    if task_state == "rebooting" and (running.detail or {}).get("kind") == RebootKind.HARD:
        task_state = "rebooting_hard"
    if pending is not None and pending.reverting and task_state == "resize_migrating":
        task_state = "resize_reverting"
    if status in ("ACTIVE", "SHUTOFF") and task_state in BUSY_STATUS:
        status = BUSY_STATUS[task_state]
    elif status in ("ACTIVE", "SHUTOFF") and task_state is None and awaits_confirmation(pending):
        status, vm_state = "VERIFY_RESIZE", "resized"
    return status, vm_state, task_state


def awaits_confirmation(pending):
    """A resize made through this API has succeeded and is neither confirmed nor reverted."""
    return pending is not None and not pending.reverting and pending.operation.status == OperationStatus.SUCCEEDED


def server_body(request, instance, detail=True, related=None):
    body = {"id": str(instance.uuid), "name": instance.name, "links": links(request, "servers", instance.uuid)}
    if not detail:
        return body
    related = related or Related.of(instance)
    running = related.running.get(instance.pk)
    status, vm_state, task_state = server_status(instance, running, related.pending.get(instance.pk))
    ports = related.ports.get(instance.pk, [])
    groups = sorted({g.name for port in ports for g in port.security_groups.all()})
    host_id = ""
    if instance.host_id:
        host_id = hashlib.sha224(f"{instance.project_id}{instance.host_id}".encode()).hexdigest()
    body.update(
        {
            "status": status,
            "tenant_id": str(instance.project_id),
            "user_id": str(instance.created_by_id or ""),
            "metadata": instance.metadata,
            "hostId": host_id,
            # Nova's "" for a server with no image (here: a deleted server's record whose image went).
            "image": bookmark(request, "images", instance.image_id) if instance.image_id else "",
            "flavor": bookmark(request, "flavors", instance.flavor_id),
            "created": iso(instance.created),
            "updated": iso(instance.updated),
            "addresses": addresses(instance, ports),
            "accessIPv4": "",
            "accessIPv6": "",
            "OS-DCF:diskConfig": "MANUAL",
            "progress": running.progress if running is not None and hasattr(running, "progress") else 0,
            "OS-EXT-AZ:availability_zone": AVAILABILITY_ZONE,
            "config_drive": "True" if instance.seed_path else "",
            "key_name": instance.key_pair.name if instance.key_pair else None,
            "OS-SRV-USG:launched_at": iso(instance.launched),
            "OS-SRV-USG:terminated_at": iso(instance.deleted),
            "security_groups": [{"name": name} for name in groups],
            "OS-EXT-STS:task_state": task_state,
            "OS-EXT-STS:vm_state": vm_state,
            "OS-EXT-STS:power_state": POWER.get(instance.power_state, 0),
            "os-extended-volumes:volumes_attached": [
                {"id": str(v.uuid), "delete_on_termination": False} for v in related.volumes.get(instance.pk, [])
            ],
        }
    )
    if instance.state == InstanceState.ERROR and instance.state_reason:
        body["fault"] = {"code": 500, "message": instance.state_reason, "created": iso(instance.updated)}
    if request.user.is_staff:  # Nova's admin-only attributes: where the server runs
        host = instance.host.name if instance.host_id else None
        body["OS-EXT-SRV-ATTR:host"] = body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = host
        body["OS-EXT-SRV-ATTR:instance_name"] = str(instance.uuid)
    if request.os_version >= (2, 9):
        body["locked"] = instance.locked
    if request.os_version >= (2, 19):
        body["description"] = None
    if request.os_version >= (2, 26):
        body["tags"] = []
    return body


STATUS_FILTER = {"BUILD": InstanceState.BUILDING, "ACTIVE": InstanceState.ACTIVE, "SHUTOFF": InstanceState.SHUTOFF}


@versioned
def server_list(request, detail=False):
    _refuse_all_tenants(request)
    instances = _instances(request).order_by("-created", "-id")
    name = request.GET.get("name")
    if name:
        try:
            pattern = re.compile(name)
        except re.error as exc:
            raise OsError(400, f"Invalid name filter: {exc}") from exc
        instances = [i for i in instances if pattern.search(i.name)]
    status = request.GET.get("status")
    if status:
        wanted = {value: key for key, value in STATUS.items()}
        states = {state for state, (nova, _vm) in STATUS.items() if nova == status.upper()}
        if not states and status.upper() not in wanted:
            if request.os_version >= (2, 38):
                raise OsError(400, f"Invalid status value: {status}")
        instances = [i for i in instances if i.state in states]
    for field, attr in (("flavor", "flavor_id"), ("image", "image_id")):
        if request.GET.get(field):
            instances = [i for i in instances if str(getattr(i, attr)) == request.GET[field]]
    after = after_marker(list(instances), request, key=lambda i: str(i.uuid))
    limit = limit_of(request, MAX_LIMIT)
    instances, more = after[:limit], len(after) > limit
    related = Related(instances) if detail else None
    body = {"servers": [server_body(request, i, detail, related) for i in instances]}
    if more and instances:
        query = request.GET.copy()
        query["marker"] = str(instances[-1].uuid)
        body["servers_links"] = [{"rel": "next", "href": link(request, f"{request.path}?{query.urlencode()}")}]
    return reply(body)


def _refuse_all_tenants(request):
    """Nova's all_tenants (`openstack server list --all-projects`): Nubes lists the token's project only."""
    value = request.GET.get("all_tenants")
    if value is None or value.lower() in FALSE_WORDS:
        return
    if value.lower() not in TRUE_WORDS:
        raise OsError(400, f"Invalid all_tenants value {value!r}: a boolean.")
    raise OsError(501, "Nubes does not implement all_tenants yet: a token lists its own project's servers.")


@versioned
def server_detail_list(request):
    return server_list(request, detail=True)


def image_of(request, image_ref):
    ident = str(image_ref or "").rstrip("/").rsplit("/", 1)[-1]
    image = Image.objects.usable_in(request.os_project).filter(pk=ident).first() if ident.isdigit() else None
    if image is None:
        raise OsError(400, f"Image {image_ref} could not be found.")
    return image


def _networks(request, requested):
    """Nova's `networks`: "auto" / "none" / absent (the host's default), or [{"uuid": ...}]."""
    if requested in (None, "auto", "none"):
        return []
    if not isinstance(requested, list):
        raise OsError(400, "networks is 'auto', 'none' or a list of {uuid}.")
    found = []
    for entry in requested:
        if not isinstance(entry, dict):
            raise OsError(400, "Each network is an object with a uuid.")
        if entry.get("port"):
            raise OsError(501, "Nubes makes an instance's ports itself: give networks by uuid, not ports.")
        if entry.get("fixed_ip"):
            raise OsError(501, "Nubes does not take a fixed_ip for a new server's port yet.")
        uuid = entry.get("uuid")
        network = Network.objects.usable_in(request.os_project).filter(uuid=uuid).first() if _is_uuid(uuid) else None
        if network is None:
            raise OsError(400, f"Network {uuid} could not be found.")
        found.append(network.pk)
    return found


def _security_groups(request, requested):
    """Nova's `security_groups` ([{"name": name or id}]) as the project's groups, for compute's
    create_instance to put on every port (it refuses them without OVN or without a network). A
    name the project has no group by, another project's group included, is Nova's 400. The
    default group alone is what every port gets anyway: no groups to choose."""
    names = []
    for entry in requested or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not name or not isinstance(name, str):
            raise OsError(400, "Each security group is an object with a name.")
        names.append(name)
    if all(name == DEFAULT_GROUP_NAME for name in names):
        return []
    groups = []
    for name in dict.fromkeys(names):  # Nova takes each group once
        group = SecurityGroup.objects.filter(project=request.os_project).filter(name=name).first()
        if group is None and _is_uuid(name):
            group = SecurityGroup.objects.filter(project=request.os_project, uuid=name).first()
        if group is None:
            raise OsError(400, f"Security group {name} not found for project {request.os_project.pk}.")
        groups.append(group)
    return groups


def _user_data(raw):
    if not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise OsError(400, f"user_data is not base64-encoded UTF-8 text: {exc}") from exc


def _image_from_mappings(mappings, image_ref):
    """The one block device mapping Nubes takes: the image as the local root disk (what
    openstackclient sends with --image); volumes and extra disks are not implemented yet."""
    if not mappings:
        return image_ref
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise OsError(400, "block_device_mapping_v2 is a list of objects.")
    root = mappings[0]
    local_image = root.get("source_type") == "image" and root.get("destination_type", "local") == "local"
    if len(mappings) != 1 or not local_image or str(root.get("boot_index", 0)) != "0":
        raise OsError(501, "Nubes does not implement block device mappings beyond the image as root disk yet.")
    if image_ref and str(root.get("uuid")) != str(image_ref):
        raise OsError(400, "The root disk's image and imageRef differ.")
    return root.get("uuid")


UNSUPPORTED_CREATE = {
    "block_device_mapping": "booting from a volume",
    "personality": "file injection",
}


@versioned
def server_create(request):
    require_write(request, "servers")
    data = body_of(request, "server")
    outer = body_of(request)
    server_group = hinted_group(request, outer.get("os:scheduler_hints") or outer.get("OS-SCH-HNT:scheduler_hints"))
    image_ref = _image_from_mappings(data.get("block_device_mapping_v2"), data.get("imageRef"))
    for key, what in UNSUPPORTED_CREATE.items():
        if data.get(key):
            raise OsError(501, f"Nubes does not implement {what} ({key}) yet.")
    metadata = metadata_service.validate(data.get("metadata") or {})
    metadata_service.check_count(metadata)
    if int(data.get("min_count") or 1) != 1 or int(data.get("max_count") or 1) != 1:
        raise OsError(501, "Nubes creates one server per request (min_count = max_count = 1).")
    zone = data.get("availability_zone")
    if zone and zone != AVAILABILITY_ZONE:
        raise OsError(400, f"The requested availability zone is not available: {zone}.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OsError(400, "A server needs a name.")
    flavor = flavor_of(request, data.get("flavorRef"), status=400)
    image = image_of(request, image_ref)
    key_pair = None
    if data.get("key_name"):
        key_pair = KeyPair.objects.filter(project=request.os_project, name=data["key_name"]).first()
        if key_pair is None:
            raise OsError(400, f"Invalid key_name provided: {data['key_name']}.")
    networks = _networks(request, data.get("networks"))
    groups = _security_groups(request, data.get("security_groups"))
    with transaction.atomic():  # a refusal leaves nothing behind
        create = services.create_instance
        if server_group is not None:  # placed by the group's policy, and a member of it
            create = partial(server_groups.create_in_group, group=server_group)
        instance, _op = create(
            request.user,
            request.os_project,
            name=name,
            flavor=flavor,
            image=image,
            key_pair=key_pair,
            user_data=_user_data(data.get("user_data")),
            networks=networks,
            security_groups=[g.pk for g in groups],
            request=request,
        )
        if metadata:
            metadata_service.set_metadata(request.user, instance, metadata, request=request)
    body = {
        "id": str(instance.uuid),
        "links": links(request, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": g.name} for g in groups] or [{"name": "default"}],
    }
    location = link(request, f"/openstack/compute/v2.1/servers/{instance.uuid}")
    return reply({"server": body}, status=202, headers={"Location": location})


@versioned
def server_show(request, server_id):
    return reply({"server": server_body(request, instance_of(request, server_id))})


@versioned
def server_update(request, server_id):
    instance = instance_of(request, server_id)
    data = body_of(request, "server")
    unknown = sorted(set(data) - {"name"})
    if unknown:
        raise OsError(
            501 if set(unknown) <= {"description", "accessIPv4", "accessIPv6"} else 400,
            f"Nubes updates a server's name only (not {', '.join(unknown)}).",
        )
    if "name" in data:
        require_write(request, "servers")
        services.rename(request.user, instance, str(data["name"]), request=request)
    return reply({"server": server_body(request, instance)})


@versioned
def server_delete(request, server_id):
    instance = instance_of(request, server_id)
    services.delete(request.user, instance, request=request)
    return reply(None, status=204)


@versioned
def server_ips(request, server_id):
    instance = instance_of(request, server_id)
    return reply({"addresses": addresses(instance, _ports(instance))})


@versioned
def server_security_groups(request, server_id):
    """The groups of the server's ports, in Nova's (nova-network era) shape; rules are Neutron's."""
    groups = {g.pk: g for port in _ports(instance_of(request, server_id)) for g in port.security_groups.all()}
    body = [
        {"id": str(g.uuid), "name": g.name, "description": g.description, "tenant_id": str(g.project_id), "rules": []}
        for g in sorted(groups.values(), key=lambda g: g.name)
    ]
    return reply({"security_groups": body})


# --- os-volume_attachments (the volumes live in storage; openstack_api.volume answers) --------


@versioned
def volume_attachments(request, server_id):
    instance = instance_of(request, server_id)
    return volume.attach(request, instance) if request.method == "POST" else volume.attachments_list(request, instance)


@versioned
def volume_attachment(request, server_id, volume_id):
    instance = instance_of(request, server_id)
    if request.method == "DELETE":
        return volume.detach(request, instance, volume_id)
    found = volume.attachment_show(request, instance, volume_id)
    return reply({"volumeAttachment": volume.nova_attachment(found, instance)})
