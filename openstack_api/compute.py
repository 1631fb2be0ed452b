"""Compute v2.1 (Nova): microversions, flavors, key pairs, limits from the project's quotas,
the one availability zone. Servers are in servers.py, their actions in server_actions.py."""

import re

from compute.api.serializers import generate_key_pair
from compute.models import Flavor, KeyPair
from compute.services import metadata
from openstack_api.base import OsError, body_of, iso, link, paginate, reply, require_write
from openstack_api.catalog import base_url
from portal import audit, quotas

MIN_VERSION, MAX_VERSION = (2, 1), (2, 38)
AVAILABILITY_ZONE = "nova"
VERSION_HEADERS = ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version")


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


def links(request, kind, ident):
    return [
        {"rel": "self", "href": link(request, f"/openstack/compute/v2.1/{kind}/{ident}")},
        {"rel": "bookmark", "href": link(request, f"/openstack/compute/{kind}/{ident}")},
    ]


def bookmark(request, kind, ident):
    """A server body's reference to its image or flavor: the id and the bookmark link only."""
    return {"id": str(ident), "links": links(request, kind, ident)[1:]}


# --- flavors ---------------------------------------------------------------------------------


def flavors_of(request):
    return Flavor.objects.usable_in(request.os_project).order_by("vcpus", "ram_mb", "name")


def flavor_of(request, flavor_ref, status=404):
    """The project's flavor by id or by link (flavorRef); `status` when there is none (a 400
    where the flavor is an argument, not the path)."""
    flavor_id = str(flavor_ref or "").rstrip("/").rsplit("/", 1)[-1]
    flavor = flavors_of(request).filter(pk=flavor_id).first() if flavor_id.isdigit() else None
    if flavor is None:
        raise OsError(status, f"Flavor {flavor_ref} could not be found.")
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
    body = {"id": str(flavor.pk), "name": flavor.name, "links": links(request, "flavors", flavor.pk)}
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
    flavors = list(flavors_of(request))
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
    return reply({"flavor": flavor_body(request, flavor_of(request, flavor_id))})


@versioned
def flavor_extra_specs(request, flavor_id):
    return reply({"extra_specs": extra_specs(flavor_of(request, flavor_id))})


@versioned
def flavor_extra_spec(request, flavor_id, key):
    specs = extra_specs(flavor_of(request, flavor_id))
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
        "maxServerMeta": metadata.MAX_ITEMS,
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
