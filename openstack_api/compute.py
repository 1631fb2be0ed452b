"""Compute v2.1 (Nova) over compute.services: flavors, key pairs, servers and their actions,
limits from the project's quotas, the one availability zone. Microversions 2.1 to MAX_VERSION."""

import base64
import binascii
import hashlib
import re

from django.db import transaction

from compute.api.serializers import generate_key_pair
from compute.choices import Action, InstanceState, PowerState, RebootKind
from compute.models import Flavor, Image, Instance, KeyPair
from compute.services import instances as services
from openstack_api.base import OsError, after_marker, body_of, iso, limit_of, link, paginate, reply, require_write
from openstack_api.catalog import base_url
from portal import audit, quotas
from portal.choices import ACTIVE_STATUSES

MIN_VERSION, MAX_VERSION = (2, 1), (2, 38)
AVAILABILITY_ZONE = "nova"
VERSION_HEADERS = ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version")
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
    "instance.resize": "resize_prep",
    "instance.delete": "deleting",
    "instance.migrate": "migrating",
}
CONSOLE_MAX = 64 * 1024
MAX_LIMIT = 1000  # Nova's osapi_max_limit: a longer list is paged with servers_links
SIMULATED_CONSOLE = "This instance runs on a simulated host (libvirt's test driver): there is no guest, so there is no console output.\n"


# --- microversions ---------------------------------------------------------------------------


def _text(version):
    return f"{version[0]}.{version[1]}"


def requested_version(request):
    raw = request.headers.get("OpenStack-API-Version", "")
    value = ""
    if raw:
        service, _, value = raw.strip().partition(" ")
        if service.lower() != "compute":
            value = ""
    value = (value or request.headers.get("X-OpenStack-Nova-API-Version", "")).strip()
    if not value:
        return MIN_VERSION
    if value == "latest":
        return MAX_VERSION
    match = re.fullmatch(r"(\d+)\.(\d+)", value)
    if not match:
        raise OsError(400, f"Invalid API version request {value!r}.")
    version = (int(match[1]), int(match[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise OsError(
            406,
            f"Version {value} is not supported by the API. Minimum is {_text(MIN_VERSION)} and maximum is "
            f"{_text(MAX_VERSION)}.",
        )
    return version


def versioned(view):
    """Reads the microversion and answers it in both headers, like Nova."""

    def wrapper(request, **kwargs):
        request.os_version = requested_version(request)
        response = view(request, **kwargs)
        text = _text(request.os_version)
        response["OpenStack-API-Version"] = f"compute {text}"
        response["X-OpenStack-Nova-API-Version"] = text
        response["Vary"] = ", ".join(VERSION_HEADERS)
        return response

    return wrapper


def version_entry(request):
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": _text(MAX_VERSION),
        "min_version": _text(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": base_url(request) + "compute/v2.1/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


def versions(request):
    return reply({"versions": [version_entry(request)]})


def version(request):
    return reply({"version": version_entry(request)})


def _links(request, kind, ident):
    return [
        {"rel": "self", "href": link(request, f"/openstack/compute/v2.1/{kind}/{ident}")},
        {"rel": "bookmark", "href": link(request, f"/openstack/compute/{kind}/{ident}")},
    ]


# --- flavors ---------------------------------------------------------------------------------


def _flavors(request):
    return Flavor.objects.usable_in(request.os_project).order_by("vcpus", "ram_mb", "name")


def _flavor(request, flavor_id):
    flavor = _flavors(request).filter(pk=flavor_id).first() if str(flavor_id).isdigit() else None
    if flavor is None:
        raise OsError(404, f"Flavor {flavor_id} could not be found.")
    return flavor


def extra_specs(flavor):
    """Our CPU QoS / NUMA / hugepages settings under Nova's quota: and hw: names."""
    specs = {"hw:cpu_policy": flavor.cpu_policy, "hw:numa_nodes": str(flavor.numa_nodes)}
    if flavor.cpu_shares:
        specs["quota:cpu_shares"] = str(flavor.cpu_shares)
    if flavor.cpu_limit_pct:
        specs["quota:cpu_period"] = "100000"
        specs["quota:cpu_quota"] = str(flavor.cpu_limit_pct * 1000)
    if flavor.cpu_reservation_mhz:
        specs["nubes:cpu_reservation_mhz"] = str(flavor.cpu_reservation_mhz)
    if flavor.hugepages:
        specs["hw:mem_page_size"] = "large"
    if flavor.watchdog:
        specs["hw:watchdog_action"] = flavor.watchdog
    if flavor.nic_queues:
        specs["hw:vif_multiqueue_enabled"] = "true"
        specs["nubes:nic_queues"] = str(flavor.nic_queues)
    if flavor.memory_slots:
        specs["nubes:memory_slots"] = str(flavor.memory_slots)
        specs["nubes:max_ram_mb"] = str(flavor.max_ram_mb)
    specs["nubes:disk_bus"] = flavor.disk_bus
    return specs


def flavor_body(request, flavor, detail=True):
    body = {"id": str(flavor.pk), "name": flavor.name, "links": _links(request, "flavors", flavor.pk)}
    if detail:
        body.update(
            {
                "ram": flavor.ram_mb,
                "vcpus": flavor.vcpus,
                "disk": flavor.disk_gb,
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "OS-FLV-DISABLED:disabled": False,
                "swap": "",
                "rxtx_factor": 1.0,
                "os-flavor-access:is_public": flavor.project_id is None,
            }
        )
    return body


@versioned
def flavor_list(request, detail=False):
    flavors = list(_flavors(request))
    is_public = request.GET.get("is_public", "true").lower()
    if is_public in ("true", "1", "yes"):
        flavors = [f for f in flavors if f.project_id is None]
    elif is_public in ("false", "0", "no"):
        flavors = [f for f in flavors if f.project_id is not None]
    for name, attr in (("minRam", "ram_mb"), ("minDisk", "disk_gb")):
        if request.GET.get(name, "").isdigit():
            flavors = [f for f in flavors if getattr(f, attr) >= int(request.GET[name])]
    flavors = paginate(flavors, request)
    return reply({"flavors": [flavor_body(request, f, detail) for f in flavors]})


@versioned
def flavor_detail_list(request):
    return flavor_list(request, detail=True)


@versioned
def flavor_show(request, flavor_id):
    return reply({"flavor": flavor_body(request, _flavor(request, flavor_id))})


@versioned
def flavor_extra_specs(request, flavor_id):
    return reply({"extra_specs": extra_specs(_flavor(request, flavor_id))})


@versioned
def flavor_extra_spec(request, flavor_id, key):
    specs = extra_specs(_flavor(request, flavor_id))
    if key not in specs:
        raise OsError(404, f"Flavor {flavor_id} has no extra specs with key {key}.")
    return reply({key: specs[key]})


# --- key pairs -------------------------------------------------------------------------------


def keypair_body(key_pair, request, full=False):
    body = {
        "name": key_pair.name,
        "public_key": key_pair.public_key,
        "fingerprint": key_pair.fingerprint,
    }
    if request.os_version >= (2, 2):
        body["type"] = "ssh"
    if full:
        body.update(
            {
                "id": key_pair.pk,
                "user_id": str(request.user.pk),
                "created_at": iso(key_pair.created),
                "updated_at": None,
                "deleted": False,
                "deleted_at": None,
            }
        )
    return body


def _keypair(request, name):
    key_pair = KeyPair.objects.filter(project=request.os_project, name=name).first()
    if key_pair is None:
        raise OsError(404, f"Keypair {name} not found for user {request.user.pk}.")
    return key_pair


@versioned
def keypair_list(request):
    key_pairs = paginate(list(KeyPair.objects.filter(project=request.os_project)), request, key=lambda k: k.name)
    return reply({"keypairs": [{"keypair": keypair_body(k, request)} for k in key_pairs]})


@versioned
def keypair_create(request):
    require_write(request, "key pairs")
    data = body_of(request, "keypair")
    if data.get("type", "ssh") != "ssh":
        raise OsError(501, "Nubes stores SSH key pairs only (no x509).")
    name = data.get("name")
    if not isinstance(name, str):
        raise OsError(400, "A key pair needs a name.")
    if KeyPair.objects.filter(project=request.os_project, name=name).exists():
        raise OsError(409, f"Key pair '{name}' already exists.")
    private_key = None
    public_key = data.get("public_key")
    if not public_key:
        public_key, private_key = generate_key_pair()
    key_pair = KeyPair(project=request.os_project, name=name, public_key=public_key)
    key_pair.full_clean()
    key_pair.save()
    audit.record(request.user, "keypair.create", key_pair, request=request)
    body = keypair_body(key_pair, request, full=True)
    if private_key:
        body["private_key"] = private_key
    status = 201 if request.os_version >= (2, 2) else 200
    return reply({"keypair": body}, status=status)


@versioned
def keypair_show(request, name):
    return reply({"keypair": keypair_body(_keypair(request, name), request, full=True)})


@versioned
def keypair_delete(request, name):
    key_pair = _keypair(request, name)
    require_write(request, "key pairs")
    audit.record(request.user, "keypair.delete", key_pair, request=request)
    key_pair.delete()
    return reply(None, status=204 if request.os_version >= (2, 2) else 202)


# --- servers ---------------------------------------------------------------------------------


def _instances(request):
    return Instance.objects.live().filter(project=request.os_project).select_related("flavor", "image", "key_pair")


def _instance(request, server_id):
    instance = _instances(request).filter(uuid=server_id).first() if _is_uuid(server_id) else None
    if instance is None:
        raise OsError(404, f"Instance {server_id} could not be found.")
    return instance


def _is_uuid(value):
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", str(value)))


def _port_query():
    from network.models import Port

    related = Port.objects.select_related("network").prefetch_related(
        "ip_allocations__subnet", "security_groups", "floating_ips__allocation"
    )
    return related.order_by("created", "id")


def _ports(instance):
    return list(_port_query().filter(instance=instance))


class Related:
    """What a server's body shows from other tables, read for a whole page at once (one query
    per kind, not per server): its running Operation, ports and attached volumes."""

    def __init__(self, instances):
        from portal.models import Operation
        from storage.models import Volume

        ids = [i.pk for i in instances]
        self.running = {
            int(op.target_id): op
            for op in Operation.objects.filter(
                target_type=Instance._meta.label_lower,
                target_id__in=[str(pk) for pk in ids],
                status__in=ACTIVE_STATUSES,
            )
        }
        self.ports, self.volumes = {}, {}
        for port in _port_query().filter(instance_id__in=ids):
            self.ports.setdefault(port.instance_id, []).append(port)
        for volume in Volume.objects.filter(instance_id__in=ids).order_by("id"):
            self.volumes.setdefault(volume.instance_id, []).append(volume)

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


def server_status(instance, running):
    """(status, vm_state, task_state) as Nova reports them."""
    task_state = TASK_STATE.get(running.kind) if running is not None else None
    if instance.state == InstanceState.DELETING:
        stopped = instance.power_state in (PowerState.SHUTOFF, PowerState.NOSTATE)
        return ("SHUTOFF", "stopped", "deleting") if stopped else ("ACTIVE", "active", "deleting")
    status, vm_state = STATUS.get(instance.state, ("UNKNOWN", "error"))
    if task_state == "rebooting" and (running.detail or {}).get("kind") == RebootKind.HARD:
        task_state = "rebooting_hard"
    if status == "ACTIVE" and task_state in ("rebooting", "rebooting_hard"):
        status = "REBOOT" if task_state == "rebooting" else "HARD_REBOOT"
    if status == "ACTIVE" and task_state == "rebuilding":
        status = "REBUILD"
    return status, vm_state, task_state


def server_body(request, instance, detail=True, related=None):
    body = {"id": str(instance.uuid), "name": instance.name, "links": _links(request, "servers", instance.uuid)}
    if not detail:
        return body
    related = related or Related.of(instance)
    running = related.running.get(instance.pk)
    status, vm_state, task_state = server_status(instance, running)
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
            "metadata": {},
            "hostId": host_id,
            "image": {"id": str(instance.image_id), "links": _links(request, "images", instance.image_id)[1:]},
            "flavor": {"id": str(instance.flavor_id), "links": _links(request, "flavors", instance.flavor_id)[1:]},
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


@versioned
def server_detail_list(request):
    return server_list(request, detail=True)


def _image(request, image_ref):
    ident = str(image_ref or "").rstrip("/").rsplit("/", 1)[-1]
    image = Image.objects.usable_in(request.os_project).filter(pk=ident).first() if ident.isdigit() else None
    if image is None:
        raise OsError(400, f"Image {image_ref} could not be found.")
    return image


def _networks(request, requested):
    """Nova's `networks`: "auto" / "none" / absent (the host's default), or [{"uuid": ...}]."""
    from network.models import Network

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
    from network.models import SecurityGroup

    names = []
    for entry in requested or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not name:
            raise OsError(400, "Each security group is an object with a name.")
        names.append(name)
    if any(name != "default" for name in names):
        from network import backends

        backends.configured().require("security_groups", "security groups")
    groups = []
    for name in names:
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
    "os:scheduler_hints": "scheduler hints",
}


@versioned
def server_create(request):
    require_write(request, "servers")
    data = body_of(request, "server")
    scheduler_hints = body_of(request).get("os:scheduler_hints")
    image_ref = _image_from_mappings(data.get("block_device_mapping_v2"), data.get("imageRef"))
    for key, what in UNSUPPORTED_CREATE.items():
        if data.get(key) or (key == "os:scheduler_hints" and scheduler_hints):
            raise OsError(501, f"Nubes does not implement {what} ({key}) yet.")
    if data.get("metadata"):
        raise OsError(501, "Nubes does not store server metadata yet.")
    if int(data.get("min_count") or 1) != 1 or int(data.get("max_count") or 1) != 1:
        raise OsError(501, "Nubes creates one server per request (min_count = max_count = 1).")
    zone = data.get("availability_zone")
    if zone and zone != AVAILABILITY_ZONE:
        raise OsError(400, f"The requested availability zone is not available: {zone}.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OsError(400, "A server needs a name.")
    flavor_ref = str(data.get("flavorRef") or "").rstrip("/").rsplit("/", 1)[-1]
    flavor = _flavors(request).filter(pk=flavor_ref).first() if flavor_ref.isdigit() else None
    if flavor is None:
        raise OsError(400, f"Flavor {data.get('flavorRef')} could not be found.")
    image = _image(request, image_ref)
    key_pair = None
    if data.get("key_name"):
        key_pair = KeyPair.objects.filter(project=request.os_project, name=data["key_name"]).first()
        if key_pair is None:
            raise OsError(400, f"Invalid key_name provided: {data['key_name']}.")
    networks = _networks(request, data.get("networks"))
    groups = _security_groups(request, data.get("security_groups"))
    with transaction.atomic():
        instance, _op = services.create_instance(
            request.user,
            request.os_project,
            name=name,
            flavor=flavor,
            image=image,
            key_pair=key_pair,
            user_data=_user_data(data.get("user_data")),
            networks=networks,
            request=request,
        )
        if groups and not all(g.is_default for g in groups):
            _set_port_groups(instance, groups)
    body = {
        "id": str(instance.uuid),
        "links": _links(request, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": g.name} for g in groups] or [{"name": "default"}],
    }
    location = link(request, f"/openstack/compute/v2.1/servers/{instance.uuid}")
    return reply({"server": body}, status=202, headers={"Location": location})


def _set_port_groups(instance, groups):
    """Inside the create transaction, before the ports' realising Operations run (they read the
    groups from the database), as network's plug_instance(security_groups=...) does."""
    for port in _ports(instance):
        port.security_groups.set(groups)


@versioned
def server_show(request, server_id):
    return reply({"server": server_body(request, _instance(request, server_id))})


@versioned
def server_update(request, server_id):
    instance = _instance(request, server_id)
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
    instance = _instance(request, server_id)
    services.delete(request.user, instance, request=request)
    return reply(None, status=204)


@versioned
def server_ips(request, server_id):
    instance = _instance(request, server_id)
    return reply({"addresses": addresses(instance, _ports(instance))})


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
    instance = _instance(request, server_id)
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
        image = _image(request, (args or {}).get("imageRef"))
        services.rebuild(request.user, instance, image, request=request)
        return reply({"server": server_body(request, instance)}, status=202)
    elif name in ("lock", "unlock"):
        services.set_lock(request.user, instance, name == "lock", request=request)
    elif name in NOT_YET:
        raise OsError(501, f"Nubes does not implement {NOT_YET[name]} yet.")
    else:
        raise OsError(400, f"Unknown server action {name!r}.")
    return reply(None, status=202)


# --- limits, zones, extensions ---------------------------------------------------------------


@versioned
def limits(request):
    usage = quotas.usage(request.os_project)

    def limit(resource):
        return usage.get(resource, {}).get("limit", -1)

    def used(resource):
        return usage.get(resource, {}).get("in_use", 0)

    absolute = {
        "maxTotalInstances": limit("instances"),
        "maxTotalCores": limit("vcpus"),
        "maxTotalRAMSize": limit("ram_mb"),
        "maxTotalKeypairs": -1,
        "maxServerMeta": 0,
        "maxPersonality": 0,
        "maxPersonalitySize": 0,
        "maxServerGroups": 0,
        "maxServerGroupMembers": 0,
        "maxTotalFloatingIps": limit("floating_ips"),
        "maxSecurityGroups": -1,
        "maxSecurityGroupRules": -1,
        "maxImageMeta": 0,
        "totalInstancesUsed": used("instances"),
        "totalCoresUsed": used("vcpus"),
        "totalRAMUsed": used("ram_mb"),
        "totalFloatingIpsUsed": used("floating_ips"),
        "totalSecurityGroupsUsed": 0,
        "totalServerGroupsUsed": 0,
    }
    return reply({"limits": {"rate": [], "absolute": absolute}})


@versioned
def availability_zones(request):
    zone = {"zoneName": AVAILABILITY_ZONE, "zoneState": {"available": True}, "hosts": None}
    return reply({"availabilityZoneInfo": [zone]})


@versioned
def extensions(request):
    return reply({"extensions": []})


# --- os-volume_attachments (the volumes live in storage; openstack_api.volume answers) --------


@versioned
def volume_attachments(request, server_id):
    from openstack_api import volume

    instance = _instance(request, server_id)
    return volume.attach(request, instance) if request.method == "POST" else volume.attachments_list(request, instance)


@versioned
def volume_attachment(request, server_id, volume_id):
    from openstack_api import volume

    instance = _instance(request, server_id)
    if request.method == "DELETE":
        return volume.detach(request, instance, volume_id)
    found = volume.attachment_show(request, instance, volume_id)
    return reply({"volumeAttachment": volume.nova_attachment(found, instance)})
