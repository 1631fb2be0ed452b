"""Forms made from a template's JSON Schemas: the order form (name, flavor and the parameters)
and one form per action. The schema stays the rule: after Django's own field checks the values
are checked against it (catalog.schema.errors) and its messages land next to their fields."""

from django import forms
from django.core.validators import RegexValidator

from catalog import schema
from compute import hooks
from compute.models import Flavor
from portal.models.tenancy import NAME_VALIDATOR


def _field(spec, required):
    """A Django form field for one property of a (flat, scalar) JSON Schema."""
    common = {
        "required": required and spec.get("type") != "boolean",
        "label": spec.get("title") or None,
        "help_text": spec.get("description", ""),
        "initial": spec.get("default"),
    }
    kind = spec.get("type")
    if "enum" in spec:
        choices = [(value, value) for value in spec["enum"]]
        return forms.TypedChoiceField(choices=choices, coerce=_coerce(kind), **common)
    if kind == "integer":
        return forms.IntegerField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "number":
        return forms.FloatField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "boolean" and not required and "default" not in spec:
        # Optional with no default (a configuration parameter): "unchanged", yes or no, so an
        # unticked box does not send false.
        return forms.NullBooleanField(widget=forms.NullBooleanSelect, **{**common, "required": False})
    if kind == "boolean":
        return forms.BooleanField(**common)
    validators = [RegexValidator(spec["pattern"])] if "pattern" in spec else []
    widget = forms.PasswordInput(render_value=True) if spec.get("writeOnly") else None
    return forms.CharField(
        min_length=spec.get("minLength"),
        max_length=spec.get("maxLength"),
        validators=validators,
        widget=widget,
        strip=False,
        **common,
    )


def _coerce(kind):
    return {"integer": int, "number": float}.get(kind, str)


class SchemaForm(forms.Form):
    """The properties of ``json_schema`` as fields; ``values()`` is the JSON object to send."""

    def __init__(self, *args, json_schema, **kwargs):
        super().__init__(*args, **kwargs)
        self.json_schema = json_schema
        required = set(json_schema.get("required", ()))
        self.schema_fields = []
        for name, spec in json_schema.get("properties", {}).items():
            self.fields[name] = _field(spec, name in required)
            self.schema_fields.append(name)

    def values(self):
        """The cleaned values of the schema's properties, blanks left out (so optional ones are absent)."""
        return {
            name: self.cleaned_data[name]
            for name in self.schema_fields
            if self.cleaned_data.get(name) not in (None, "")
        }

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            for field, messages in schema.errors(self.json_schema, self.values()).items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


class OrderForm(SchemaForm):
    """A service's name and flavor (among the template's and the project's), then the parameters."""

    def __init__(self, *args, template, project, **kwargs):
        super().__init__(*args, json_schema=template.parameter_schema, **kwargs)
        usable = Flavor.objects.usable_in(project) if project is not None else Flavor.objects.none()
        flavors = template.flavors.filter(pk__in=usable.values("pk")).order_by("name")
        named = {
            "name": forms.CharField(max_length=63, validators=[NAME_VALIDATOR]),
            "flavor": forms.ModelChoiceField(queryset=flavors, empty_label=None),
        }
        choices = hooks.network_choices(project) if project is not None else []
        if choices:  # the project's networks (the network app's); none chosen: the host's default
            named["networks"] = forms.TypedMultipleChoiceField(
                choices=choices,
                coerce=int,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text="The service's VM gets one NIC on each network chosen (DHCP in the guest)",
            )
        self.fields = {**named, **{k: v for k, v in self.fields.items() if k not in named}}


def action_form(template, action, data=None, prefix=None):
    return SchemaForm(data, json_schema=template.action_arguments_schema(action), prefix=prefix)


class BackupScheduleForm(forms.Form):
    every_hours = forms.IntegerField(
        required=False, min_value=1, max_value=168, label="Back up every (hours)", help_text="Empty: no schedule"
    )
    keep = forms.IntegerField(min_value=1, max_value=100, initial=7, label="Keep the newest")
