"""Compute v2.1 for cloud admins: os-hypervisors (compute's hosts, with what their placed
instances hold), os-aggregates (compute's clusters) and os-migrations (compute's Migration
records). Tenants get Nova's 403."""

import json
from urllib.parse import urlsplit

from django.utils import timezone

from compute.choices import PLACED_STATES, HostState
from compute.models import Cluster, Host, Instance, Migration, MigrationState
from compute.views.overview import with_allocation
from openstack_api.base import OsError, iso_micro, link, paginate, reply
from openstack_api.compute import versioned

HYPERVISOR_TYPE = "QEMU"
# Nubes' host state -> Nova's (state of the compute service, status for the scheduler).
HOST_STATE = {
    HostState.UP: ("up", "enabled"),
    HostState.MAINTENANCE: ("up", "disabled"),
    HostState.STANDBY: ("down", "disabled"),
    HostState.DOWN: ("down", "enabled"),
    HostState.ERROR: ("down", "enabled"),
}
# Nubes' migration state -> Nova's migration status.
MIGRATION_STATUS = {
    MigrationState.WAITING: "queued",
    MigrationState.QUEUED: "queued",
    MigrationState.RUNNING: "running",
    MigrationState.SUCCEEDED: "completed",
    MigrationState.FAILED: "failed",
    MigrationState.CANCELLED: "cancelled",
}
# Nova's migration types -> Migration.live (Nubes' resizes and evacuations make no cold moves).
MIGRATION_TYPES = {"live-migration": True, "migration": False, "resize": None, "evacuation": None}


def cloud_admin(request, policy):
    if not request.user.is_staff:
        raise OsError(403, f"Policy doesn't allow {policy} to be performed.")


# --- os-hypervisors --------------------------------------------------------------------------


def _hosts():
    return with_allocation(Host.objects.select_related("cluster")).order_by("pk")


def _host_ip(host):
    return urlsplit(host.uri).hostname or "127.0.0.1"


def _version(host):
    """Nova's integer: QEMU 8.2.0 -> 8002000 (0 when the host was never read)."""
    parts = str(host.facts.get("hypervisor_version") or "").split(".")
    if not all(part.isdigit() for part in parts):
        return 0
    major, minor, micro = ([int(part) for part in parts] + [0, 0, 0])[:3]
    return major * 1_000_000 + minor * 1_000 + micro


def hypervisor_body(request, host, detail=True):
    state, status = HOST_STATE.get(host.state, ("down", "enabled"))
    body = {"id": host.pk, "hypervisor_hostname": host.name, "state": state, "status": status}
    if not detail:
        return body
    memory_mb = max(host.memory_mb - host.reserved_memory_mb, 0)
    cpu_info = {
        "arch": host.facts.get("arch", "x86_64"),
        "model": host.facts.get("cpu_model", ""),
        "vendor": host.facts.get("cpu_vendor", ""),
        "topology": {k: host.facts.get(k, 0) for k in ("sockets", "cores", "threads")},
        "features": host.facts.get("cpu_features", []),
    }
    body.update(
        {
            "hypervisor_type": HYPERVISOR_TYPE,
            "hypervisor_version": _version(host),
            "host_ip": _host_ip(host),
            "vcpus": host.cpus,
            "vcpus_used": host.vcpus_used,
            "memory_mb": memory_mb,
            "memory_mb_used": host.ram_used_mb,
            "free_ram_mb": memory_mb - host.ram_used_mb,
            "local_gb": host.disk_gb,
            "local_gb_used": host.disk_used_gb,
            "free_disk_gb": host.disk_gb - host.disk_used_gb,
            "disk_available_least": host.disk_gb - host.disk_used_gb,
            "running_vms": host.placed,
            "current_workload": 0,
            "cpu_info": cpu_info if request.os_version >= (2, 28) else json.dumps(cpu_info),
            "service": {
                "host": host.name,
                "id": host.pk,
                "disabled_reason": host.state_reason or None if status == "disabled" else None,
            },
        }
    )
    return body


@versioned
def hypervisor_list(request, detail=False):
    cloud_admin(request, "os_compute_api:os-hypervisors:list")
    hosts = list(_hosts())
    pattern = request.GET.get("hypervisor_hostname_pattern")
    if pattern:
        hosts = [h for h in hosts if pattern in h.name]
    hosts = paginate(hosts, request)
    return reply({"hypervisors": [hypervisor_body(request, h, detail) for h in hosts]})


@versioned
def hypervisor_detail_list(request):
    return hypervisor_list(request, detail=True)


@versioned
def hypervisor_show(request, hypervisor_id):
    cloud_admin(request, "os_compute_api:os-hypervisors:show")
    host = _host(hypervisor_id)
    return reply({"hypervisor": hypervisor_body(request, host)})


@versioned
def hypervisor_statistics(request):
    cloud_admin(request, "os_compute_api:os-hypervisors:statistics")
    bodies = [hypervisor_body(request, h) for h in _hosts()]
    keys = (
        "current_workload", "disk_available_least", "free_disk_gb", "free_ram_mb", "local_gb", "local_gb_used",
        "memory_mb", "memory_mb_used", "running_vms", "vcpus", "vcpus_used",
    )  # fmt: skip
    totals = {key: sum(body[key] for body in bodies) for key in keys}
    return reply({"hypervisor_statistics": {"count": len(bodies), **totals}})


def _host(hypervisor_id):
    host = _hosts().filter(pk=hypervisor_id).first() if str(hypervisor_id).isdigit() else None
    if host is None:
        raise OsError(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    return host


@versioned
def hypervisor_uptime(request, hypervisor_id):
    """Nova answers the host's `uptime` line. Nubes reads no uptime or load from its hosts: the
    line has the portal's clock (UTC) and says `unknown` for the rest, in Nova's format."""
    cloud_admin(request, "os_compute_api:os-hypervisors:uptime")
    host = _host(hypervisor_id)
    body = hypervisor_body(request, host, detail=False)
    if body["state"] == "down":
        raise OsError(400, f"Compute service of {host.name} is unavailable at this time.")
    now = timezone.now().strftime("%H:%M:%S")
    body["uptime"] = f" {now} up unknown,  unknown users,  load average: unknown, unknown, unknown"
    return reply({"hypervisor": body})


def _matching(pattern):
    """Nova before 2.53: hosts whose name contains the pattern, else 404; Nubes also takes an id."""
    hosts = [h for h in _hosts() if pattern in h.name]
    if not hosts and pattern.isdigit():
        hosts = list(_hosts().filter(pk=pattern))
    if not hosts:
        raise OsError(404, f"No hypervisor matching '{pattern}' could be found.")
    return hosts


@versioned
def hypervisor_search(request, pattern):
    cloud_admin(request, "os_compute_api:os-hypervisors:search")
    return reply({"hypervisors": [hypervisor_body(request, h, detail=False) for h in _matching(pattern)]})


@versioned
def hypervisor_servers(request, pattern):
    """Each matching host with the servers placed on it (every project's): Nova's `name` is the
    libvirt domain's, `uuid` the server's id; no `servers` key for a host with none."""
    cloud_admin(request, "os_compute_api:os-hypervisors:servers")
    bodies = []
    for host in _matching(pattern):
        body = hypervisor_body(request, host, detail=False)
        placed = Instance.objects.filter(host=host, state__in=PLACED_STATES).order_by("created", "pk")
        servers = [{"name": i.domain_name, "uuid": str(i.uuid)} for i in placed]
        if servers:
            body["servers"] = servers
        bodies.append(body)
    return reply({"hypervisors": bodies})


# --- os-aggregates ---------------------------------------------------------------------------


def aggregate_body(cluster):
    return {
        "id": cluster.pk,
        "name": cluster.name,
        "availability_zone": None,
        "hosts": sorted(h.name for h in cluster.hosts.all()),
        "metadata": {},
        "created_at": iso_micro(cluster.created),
        "updated_at": None,
        "deleted_at": None,
        "deleted": False,
    }


@versioned
def aggregate_list(request):
    cloud_admin(request, "os_compute_api:os-aggregates:index")
    clusters = Cluster.objects.prefetch_related("hosts").order_by("pk")
    return reply({"aggregates": [aggregate_body(c) for c in clusters]})


@versioned
def aggregate_show(request, aggregate_id):
    cloud_admin(request, "os_compute_api:os-aggregates:show")
    cluster = Cluster.objects.filter(pk=aggregate_id).first() if str(aggregate_id).isdigit() else None
    if cluster is None:
        raise OsError(404, f"Aggregate {aggregate_id} could not be found.")
    return reply({"aggregate": aggregate_body(cluster)})


# --- os-migrations ---------------------------------------------------------------------------


def migration_body(request, migration):
    flavor = migration.instance.flavor_id
    target = migration.target
    body = {
        "id": migration.pk,
        "instance_uuid": str(migration.instance.uuid),
        "source_compute": migration.source.name,
        "source_node": migration.source.name,
        "dest_compute": target.name if target else None,
        "dest_node": target.name if target else None,
        "dest_host": _host_ip(target) if target else None,
        "status": MIGRATION_STATUS.get(migration.state, migration.state),
        "migration_type": "live-migration" if migration.live else "migration",
        "old_instance_type_id": flavor,
        "new_instance_type_id": flavor,
        "created_at": iso_micro(migration.created),
        "updated_at": iso_micro(migration.finished or migration.started),
    }
    if request.os_version >= (2, 23) and migration.live and migration.is_active:
        server = migration.instance.uuid
        body["links"] = [
            {
                "rel": "self",
                "href": link(request, f"/openstack/compute/v2.1/servers/{server}/migrations/{migration.pk}"),
            },
            {
                "rel": "bookmark",
                "href": link(request, f"/openstack/compute/servers/{server}/migrations/{migration.pk}"),
            },
        ]
    return body


@versioned
def migration_list(request):
    cloud_admin(request, "os_compute_api:os-migrations:index")
    migrations = Migration.objects.select_related("instance", "source", "target").order_by("-created", "-id")
    uuid = request.GET.get("instance_uuid")
    if uuid:
        migrations = [m for m in migrations if str(m.instance.uuid) == uuid]
    kind = request.GET.get("migration_type")
    if kind:
        if kind not in MIGRATION_TYPES:
            raise OsError(400, f"Invalid migration_type {kind!r}: live-migration, migration, resize or evacuation.")
        migrations = [m for m in migrations if MIGRATION_TYPES[kind] is not None and m.live == MIGRATION_TYPES[kind]]
    status = request.GET.get("status")
    if status:
        migrations = [m for m in migrations if MIGRATION_STATUS.get(m.state) == status.lower()]
    host = request.GET.get("host") or request.GET.get("source_compute")
    if host:
        migrations = [m for m in migrations if host in (m.source.name, m.target.name if m.target else None)]
    migrations = paginate(list(migrations), request)
    return reply({"migrations": [migration_body(request, m) for m in migrations]})
