"""The service catalog: templates (admins) and the services tenants order from them."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from catalog import schema
from compute.models import Flavor, Image, Instance
from portal.models.tenancy import NAME_VALIDATOR, ProjectOwned

# The same rule the gateway applies (hypervisor.guest_agent.SCRIPT_NAME): checked here too so a
# template with a bad script name is refused when it is saved, not when it first runs.
SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
ACTION_NAME = SCRIPT_NAME
MAX_ACTIONS = 64


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

    def allowed_scripts(self) -> frozenset[str]:
        """The only scripts a service of this template may run in its guest."""
        return frozenset(action["script"] for action in self.actions.values())

    def action_arguments_schema(self, name) -> dict:
        return self.actions[name].get("arguments", {"type": "object", "additionalProperties": False})


class ServiceState(models.TextChoices):
    BUILDING = "building"
    ACTIVE = "active"
    DEGRADED = "degraded"  # the agent does not answer or the service is down: status_reason says
    ERROR = "error"
    DELETING = "deleting"


class Service(ProjectOwned):
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    template = models.ForeignKey(ServiceTemplate, on_delete=models.PROTECT, related_name="services")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    instance = models.OneToOneField(Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="service")
    parameters = models.JSONField(default=dict, blank=True)
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
