"""The service catalog: templates (admins) and the services tenants order from them."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from catalog import schema, sealed
from compute.models import Flavor, Image, Instance
from portal.models.tenancy import NAME_VALIDATOR, ProjectOwned
from storage.models import Volume

# The same rule the gateway applies (hypervisor.guest_agent.SCRIPT_NAME): checked here too so a
# template with a bad script name is refused when it is saved, not when it first runs.
SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
ACTION_NAME = SCRIPT_NAME
MAX_ACTIONS = 64
# The scripts the platform itself runs at given moments (never a tenant's action):
#   data-volume  after the first boot: move the service's data onto its data volume
#   backup       write a backup onto the blank volume attached for it
#   restore      restore the backup volume attached to a new service
#   metrics      on the metrics beat: the service's own counters (connections, transactions, size)
#   grow         after its data volume grew: grow the filesystem on it (online)
#   replication-allow  on a primary: the replication role's password and the replica's address let in
#   replica-setup      on a new replica: copy the primary (a base backup) and follow it
#   replica-status     on either: its role, a replica's lag, a primary's replicas
#   replica-promote    on a replica: stop following, accept writes
#   replication-revoke on a primary: a deleted or promoted replica's pg_hba.conf line removed
#                      (and the replication role, once no replica is let in any more)
HOOKS = (
    "data-volume",
    "backup",
    "restore",
    "metrics",
    "grow",
    "replication-allow",
    "replica-setup",
    "replica-status",
    "replica-promote",
    "replication-revoke",
)
REPLICA_HOOKS = ("replication-allow", "replica-setup", "replica-status", "replica-promote")
# The order parameter giving the data volume's size (GiB) of a template with a data-volume hook.
DATA_VOLUME_PARAMETER = "data_volume_gb"


class ServiceTemplate(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="service_templates")
    flavors = models.ManyToManyField(Flavor, related_name="service_templates")
    parameter_schema = models.JSONField(default=dict, help_text="JSON Schema of the order's parameters")
    # {"db-create": {"script": "db-create", "description": "...", "arguments": {JSON Schema}}}
    actions = models.JSONField(default=dict, blank=True)
    readable_paths = models.JSONField(default=list, blank=True, help_text="Guest directories logs may be read from")
    log_path = models.CharField(max_length=255, blank=True, help_text="The server log the service's page tails")
    # {"data-volume": "data-volume", "backup": "backup-dump", "restore": "backup-restore"}: see HOOKS
    hooks = models.JSONField(default=dict, blank=True, help_text="Scripts the platform runs: " + ", ".join(HOOKS))
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        try:
            schema.check_schema(self.parameter_schema)
        except schema.SchemaError as exc:
            raise ValidationError({"parameter_schema": str(exc)}) from exc
        self.clean_actions()
        self.clean_hooks()
        if not isinstance(self.readable_paths, list) or not all(
            isinstance(p, str) and p.startswith("/") and ".." not in p for p in self.readable_paths
        ):
            raise ValidationError({"readable_paths": "A list of absolute guest directories."})
        if self.log_path and not any(self.log_path.startswith(p.rstrip("/") + "/") for p in self.readable_paths):
            raise ValidationError({"log_path": "The log must be a file under one of the readable paths."})

    def clean_actions(self):
        if not isinstance(self.actions, dict) or len(self.actions) > MAX_ACTIONS:
            raise ValidationError({"actions": f"An object of at most {MAX_ACTIONS} actions."})
        for name, action in self.actions.items():
            if not ACTION_NAME.match(name):
                raise ValidationError({"actions": f"Action name {name!r} must match {ACTION_NAME.pattern}."})
            if not isinstance(action, dict) or set(action) - {"script", "description", "arguments"}:
                raise ValidationError({"actions": f"Action {name!r} has script, description and arguments only."})
            if not isinstance(action.get("script"), str) or not SCRIPT_NAME.match(action["script"]):
                raise ValidationError({"actions": f"Action {name!r}: script must match {SCRIPT_NAME.pattern}."})
            try:
                schema.check_schema(action.get("arguments", {"type": "object", "additionalProperties": False}))
            except schema.SchemaError as exc:
                raise ValidationError({"actions": f"Action {name!r} arguments: {exc}"}) from exc

    def clean_hooks(self):
        if not isinstance(self.hooks, dict) or set(self.hooks) - set(HOOKS):
            raise ValidationError({"hooks": f"An object whose keys are among {', '.join(HOOKS)}."})
        for hook, script in self.hooks.items():
            if not isinstance(script, str) or not SCRIPT_NAME.match(script):
                raise ValidationError({"hooks": f"Hook {hook!r}: script must match {SCRIPT_NAME.pattern}."})
        if DATA_VOLUME_PARAMETER in self.parameter_schema.get("properties", {}):
            spec = self.parameter_schema["properties"][DATA_VOLUME_PARAMETER]
            if spec.get("type") != "integer" or "data-volume" not in self.hooks:
                raise ValidationError(
                    {
                        "parameter_schema": f"{DATA_VOLUME_PARAMETER} is an integer (GiB) of a template with a data-volume hook."
                    }
                )

    def allowed_scripts(self) -> frozenset[str]:
        """The only scripts a service of this template may run in its guest."""
        return frozenset(action["script"] for action in self.actions.values()) | frozenset(self.hooks.values())

    @property
    def backs_up(self) -> bool:
        return "backup" in self.hooks and "restore" in self.hooks

    @property
    def replicates(self) -> bool:
        return all(hook in self.hooks for hook in REPLICA_HOOKS)

    def action_arguments_schema(self, name) -> dict:
        return self.actions[name].get("arguments", {"type": "object", "additionalProperties": False})


class ServiceState(models.TextChoices):
    BUILDING = "building"
    ACTIVE = "active"
    DEGRADED = "degraded"  # the agent does not answer or the service is down: status_reason says
    ERROR = "error"
    DELETING = "deleting"
    RESIZING = "resizing"  # a flavor change through compute's resize (cold: stopped, resized, started)


class Service(ProjectOwned):
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    template = models.ForeignKey(ServiceTemplate, on_delete=models.PROTECT, related_name="services")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    instance = models.OneToOneField(Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="service")
    parameters = models.JSONField(default=dict, blank=True)
    # Its data's own volume (template hook data-volume), made with the order and deleted with it.
    data_volume = models.ForeignKey(Volume, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    restored_from = models.ForeignKey(
        "Backup", null=True, blank=True, on_delete=models.SET_NULL, related_name="restored_services"
    )
    # A streaming replica's primary (None: a primary, or a replica since promoted).
    replica_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replicas")
    # A replica's physical replication slot on its primary ("" none): the primary keeps the WAL
    # it still needs; dropped on the primary (replication-revoke) when it is deleted or promoted.
    replication_slot = models.CharField(max_length=63, blank=True, editable=False)
    # A primary's replication role password (Fernet under a key of its own; never shown).
    replication_password_encrypted = models.TextField(blank=True, editable=False)
    # Scheduled backups (beat): one every backup_every_hours (None: none), the newest backup_keep kept.
    backup_every_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    backup_keep = models.PositiveSmallIntegerField(default=7)
    state = models.CharField(max_length=16, choices=ServiceState.choices, default=ServiceState.BUILDING)
    status_reason = models.CharField(max_length=500, blank=True)
    # What the guest last reported, for the page (which never asks the guest itself):
    # {"users": {"output": {...}, "at": iso}, "databases": {...}, "log": {"text": "...", "at": iso}}
    inventory = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="catalog_service_unique_name")]

    def __str__(self):
        return self.name

    def set_replication_password(self, plain):
        self.replication_password_encrypted = sealed.seal({"password": plain})

    def replication_password(self):
        return (
            sealed.unseal(self.replication_password_encrypted)["password"]
            if self.replication_password_encrypted
            else None
        )


class BackupState(models.TextChoices):
    CREATING = "creating"
    AVAILABLE = "available"
    RESTORING = "restoring"  # attached to a new service while it is built from it
    ERROR = "error"
    DELETING = "deleting"


class Backup(ProjectOwned):
    """A service's backup: the template's backup script's output on a volume of its own (a pool's,
    the tenant's; never inside the guest), attached for the dump and detached after it. It
    outlives its service; a new service is ordered from it (restore)."""

    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="backups")
    service_name = models.CharField(max_length=63)
    template = models.ForeignKey(ServiceTemplate, on_delete=models.PROTECT, related_name="backups")
    volume = models.OneToOneField(Volume, on_delete=models.CASCADE, related_name="service_backup")
    state = models.CharField(max_length=16, choices=BackupState.choices, default=BackupState.CREATING)
    status_reason = models.CharField(max_length=500, blank=True)
    scheduled = models.BooleanField(default=False, help_text="Taken by the schedule (kept by its retention)")
    # What the script reported: {"databases": [{"name", "size_bytes", "dump_bytes"}], ...}
    databases = models.JSONField(default=list, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True, help_text="The databases' size when dumped")
    dump_bytes = models.BigIntegerField(null=True, blank=True, help_text="The dump's size on the volume")
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True, help_text="The whole backup: volume, attach, dump, detach")
    dump_s = models.FloatField(null=True, blank=True, help_text="The dump itself, in the guest")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="catalog_backup_unique_name")]

    def __str__(self):
        return self.name


# What a service's metrics hook reports, stored per collection: name -> (unit, help).
SERVICE_METRICS = {
    "connections": ("", "client connections"),
    "xact_per_s": ("1/s", "transactions per second (commits and rollbacks)"),
    "size_mib": ("MiB", "the databases' size"),
}


class ServiceSample(models.Model):
    """One collection of a service's metrics from inside its guest (the metrics hook, run
    through the agent on the metrics beat); kept as long as compute's raw samples."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="metric_samples")
    ts = models.PositiveBigIntegerField(help_text="Unix time in seconds")
    connections = models.FloatField(null=True, blank=True)
    xact_per_s = models.FloatField(null=True, blank=True, help_text="None on a first reading or after a restart")
    size_mib = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["service", "ts"]), models.Index(fields=["ts"])]
