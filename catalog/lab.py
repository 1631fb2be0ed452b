"""catalog's part in registering the lab (portal.lab): the service guest image that
lab/service-guest/build.sh made (lab/build/service-guest/image.env), copied into the shared
pool through libvirt, a flavor it fits, and the PostgreSQL service template whose actions are
the image's scripts. Nothing when the image is not built (said in ``made``). Safe to run twice."""

from pathlib import Path

from django.conf import settings
from django.db import transaction

import hypervisor as hv
from catalog import services
from catalog.models import DATA_VOLUME_PARAMETER, ServiceTemplate
from compute.api.serializers import FlavorSerializer, ImageSerializer
from compute.models import Flavor, Image
from portal.lab import SHARED_POOL

LAB_ORDER = 40  # after compute's hosts and storage's pools
IMAGE_ENV = Path(settings.BASE_DIR) / "lab" / "build" / "service-guest" / "image.env"
IMAGE = "service-guest"
FLAVOR = "lab.db"
FLAVOR_RAM_MB = 1024  # PostgreSQL with its defaults under TCG
# A second, slightly larger flavor the template offers, so a database can be resized on the lab.
LARGE_FLAVOR = "lab.db.large"
LARGE_FLAVOR_VCPUS = 2
LARGE_FLAVOR_RAM_MB = 1536
IMAGE_DISK_GB = 3  # build.sh's NUBES_SERVICE_GUEST_SIZE
TEMPLATE = "postgresql"
LOG_DIR = "/var/log/postgresql"

NAME = {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$", "maxLength": 63}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 128, "writeOnly": True}


def _arguments(properties, required):
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


NO_ARGUMENTS = _arguments({}, [])
POSTGRES_ACTIONS = {
    "health": {"script": "health", "description": "Is PostgreSQL accepting connections", "arguments": NO_ARGUMENTS},
    "db-list": {"script": "db-list", "description": "List the databases", "arguments": NO_ARGUMENTS},
    "db-create": {
        "script": "db-create",
        "description": "Create a database",
        "arguments": _arguments({"name": NAME, "owner": NAME}, ["name"]),
    },
    "db-delete": {
        "script": "db-delete",
        "description": "Delete a database (its connections are closed)",
        "arguments": _arguments({"name": NAME}, ["name"]),
    },
    "db-grant": {
        "script": "db-grant",
        "description": "Give a user read-only, read-write or owner access to a database (none revokes it)",
        "arguments": _arguments(
            {
                "database": NAME,
                "user": NAME,
                "access": {"type": "string", "enum": ["read-only", "read-write", "owner", "none"]},
            },
            ["database", "user", "access"],
        ),
    },
    "user-list": {"script": "user-list", "description": "List the users", "arguments": NO_ARGUMENTS},
    "user-create": {
        "script": "user-create",
        "description": "Create a user that can log in",
        "arguments": _arguments({"name": NAME, "password": PASSWORD}, ["name", "password"]),
    },
    "user-password": {
        "script": "user-password",
        "description": "Set a user's password (rotate it)",
        "arguments": _arguments({"name": NAME, "password": PASSWORD}, ["name", "password"]),
    },
    "user-delete": {
        "script": "user-delete",
        "description": "Delete a user",
        "arguments": _arguments({"name": NAME}, ["name"]),
    },
}


def _parameter(kind, low, high, unit, what, restart=False):
    spec = {"type": kind, "title": f"{what} ({unit})" if unit else what}
    if low is not None:
        spec.update(minimum=low, maximum=high)
    if restart:
        spec["description"] = "Changing it restarts PostgreSQL"
    return spec


# The configuration parameters a tenant may set: the same allow-list, types and ranges as the
# image's nubes_agent.PARAMETERS (memory in MB, times in ms). The script writes them with ALTER
# SYSTEM and reloads, or restarts the server when pg_settings.context is "postmaster".
CONFIG_PARAMETERS = {
    "max_connections": _parameter("integer", 10, 1000, "", "max_connections", restart=True),
    "shared_buffers": _parameter("integer", 16, 8192, "MB", "shared_buffers", restart=True),
    "work_mem": _parameter("integer", 1, 2048, "MB", "work_mem"),
    "maintenance_work_mem": _parameter("integer", 1, 4096, "MB", "maintenance_work_mem"),
    "effective_cache_size": _parameter("integer", 8, 65536, "MB", "effective_cache_size"),
    "log_min_duration_statement": _parameter("integer", -1, 3600000, "ms", "log_min_duration_statement"),
    "statement_timeout": _parameter("integer", 0, 86400000, "ms", "statement_timeout"),
    "idle_in_transaction_session_timeout": _parameter(
        "integer", 0, 86400000, "ms", "idle_in_transaction_session_timeout"
    ),
    "random_page_cost": _parameter("number", 0.1, 100, "", "random_page_cost"),
    "log_connections": _parameter("boolean", None, None, "", "log_connections"),
}
POSTGRES_ACTIONS.update(
    {
        "config-show": {
            "script": "config-show",
            "description": "Read the configuration parameters that may be set",
            "arguments": NO_ARGUMENTS,
        },
        "config-set": {
            "script": "config-set",
            "description": "Set configuration parameters (reloaded; max_connections and shared_buffers restart PostgreSQL)",
            "arguments": {**_arguments(CONFIG_PARAMETERS, []), "minProperties": 1},
        },
    }
)


# The scripts the platform runs itself (ServiceTemplate.hooks): never a tenant's action.
POSTGRES_HOOKS = {
    "data-volume": "data-volume",
    "backup": "backup-dump",
    "restore": "backup-restore",
    "metrics": "metrics",
    "grow": "data-grow",
    "replication-allow": "replication-allow",
    "replica-setup": "replica-setup",
    "replica-status": "replica-status",
    "replica-promote": "replica-promote",
    "replication-revoke": "replication-revoke",
}
DATA_VOLUME_GB = 2
MAX_DATA_VOLUME_GB = 100


def postgres_parameters(version):
    return {
        "type": "object",
        "properties": {
            "version": {"type": "string", "enum": [version], "default": version, "title": "Version"},
            DATA_VOLUME_PARAMETER: {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_DATA_VOLUME_GB,
                "default": DATA_VOLUME_GB,
                "title": "Data volume (GiB)",
                "description": "PostgreSQL's data lives on a volume of its own in the storage pool",
            },
        },
        "required": ["version"],
        "additionalProperties": False,
    }


def read_image_env(path=None):
    """image.env's values (ROOT, KERNEL, INITRD, CMDLINE, RECIPE, POSTGRES_VERSION, ...), or None."""
    path = Path(path or IMAGE_ENV)
    if not path.exists():
        return None
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"')
    return values


def _save(serializer_class, instance, data):
    serializer = serializer_class(instance, data=data, partial=instance is not None)
    serializer.is_valid(raise_exception=True)
    return serializer.save()


def _volume_in_pool(hosts, image):
    """The image's root filesystem as volume service-guest-<recipe>.qcow2 of the shared pool,
    uploaded through the first host's libvirt once; the other hosts refresh their view of it."""
    volume = f"{IMAGE}-{image['RECIPE']}.qcow2"
    first = hosts[0]
    try:
        hv.volume_info(first.uri, SHARED_POOL, volume)
    except hv.VolumeNotFound:
        hv.volume_upload(first.uri, SHARED_POOL, volume, image["ROOT"], fmt="qcow2")
    for host in hosts[1:]:
        hv.pool_refresh(host.uri, SHARED_POOL)
    return volume


def _flavor(name, vcpus, ram_mb):
    """The public flavor ``name`` (made once; the image's root disk size)."""
    return Flavor.objects.filter(name=name, project=None).first() or _save(
        FlavorSerializer,
        None,
        {"name": name, "vcpus": vcpus, "ram_mb": ram_mb, "disk_gb": IMAGE_DISK_GB, "visibility": "public"},
    )


def register(user, lab, made, service_templates=False, **options):
    if not service_templates:
        return
    image_env = read_image_env()
    if image_env is None:
        made["service_template"] = None
        made["service_note"] = f"no service template: {IMAGE_ENV} is missing (run lab/service-guest/build.sh)"
        return
    try:
        volume = _volume_in_pool(made["hosts"], image_env)
    except (hv.HypervisorError, OSError) as exc:  # the lab itself stays registered without it
        made["service_template"] = None
        made["service_note"] = f"no service template: the image could not be put in {SHARED_POOL}: {exc}"
        return
    fields = {
        "pool": SHARED_POOL,
        "volume": volume,
        "kernel_path": image_env["KERNEL"],
        "initrd_path": image_env["INITRD"],
        "kernel_cmdline": image_env["CMDLINE"],
    }
    image = Image.objects.filter(name=IMAGE, project=None).first()
    if image is None:
        image = _save(
            ImageSerializer,
            None,
            {"name": IMAGE, "format": "qcow2", "virtual_size_gb": IMAGE_DISK_GB, "visibility": "public", **fields},
        )
    elif image.volume != volume:  # a new recipe: new services start from the new build
        image = _save(ImageSerializer, image, fields)
    flavor = _flavor(FLAVOR, 1, FLAVOR_RAM_MB)
    large = _flavor(LARGE_FLAVOR, LARGE_FLAVOR_VCPUS, LARGE_FLAVOR_RAM_MB)
    template = ServiceTemplate.objects.filter(name=TEMPLATE).first() or ServiceTemplate(name=TEMPLATE)
    template.description = f"PostgreSQL {image_env['POSTGRES_VERSION']} on its own VM, run through the guest agent"
    template.image = image
    template.parameter_schema = postgres_parameters(image_env["POSTGRES_VERSION"])
    template.actions = POSTGRES_ACTIONS
    template.hooks = POSTGRES_HOOKS
    template.readable_paths = [LOG_DIR]
    template.log_path = f"{LOG_DIR}/postgresql-{image_env['POSTGRES_VERSION']}-main.log"
    with transaction.atomic():
        services.save_template(user, template, flavors=[flavor, large])
    made.update(service_template=template, service_flavor=flavor, service_image=image)
