"""compute's forms; the rules are the services' (the same as the API's), keyed by field."""

from django import forms

from compute import hooks
from compute.choices import MAX_NAME_LENGTH, HostState, ImageState
from compute.models import AlarmRule, Cluster, Flavor, Host, HostDevice, Image, Instance, KeyPair
from compute.models.catalog import MAX_PUBLIC_KEY
from compute.models.instances import validate_instance_name
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS, Scope
from compute.services import migration
from compute.services.migration import OPTION_FIELDS
from portal.names import NameField


class ActionErrorMixin:
    def add_action_error(self, exc):
        """A service's ActionError on its field, or on the whole form when it names none here."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, str(exc))


MAX_LAUNCH_COUNT = 10


class FlavorSelect(forms.Select):
    """Each option carries its flavor's sizes, which the launch page shows and counts against
    the quota left (static/js/launch_form.js)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        flavor = getattr(value, "instance", None)
        if flavor is not None:
            option["attrs"].update(
                {"data-vcpus": flavor.vcpus, "data-ram-mb": flavor.ram_mb, "data-disk-gb": flavor.disk_gb}
            )
        return option


class LaunchForm(ActionErrorMixin, forms.Form):
    name = NameField(max_length=MAX_NAME_LENGTH, validators=[validate_instance_name])
    count = forms.IntegerField(
        min_value=1,
        max_value=MAX_LAUNCH_COUNT,
        initial=1,
        required=False,  # blank: one
        help_text=f"Up to {MAX_LAUNCH_COUNT}; more than one are named <name>-1, <name>-2, ...",
    )
    flavor = forms.ModelChoiceField(queryset=Flavor.objects.none(), widget=FlavorSelect)
    image = forms.ModelChoiceField(queryset=Image.objects.none())
    key_pair = forms.ModelChoiceField(
        queryset=KeyPair.objects.none(), required=False, help_text="Its public key goes into the guest (see Key pairs)"
    )
    user_data = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="cloud-init user data (kept for the NoCloud seed)",
    )

    def __init__(self, *args, project, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        if user is not None and user.is_staff:  # placement hints, as the API's host / cluster
            self.fields["cluster"] = forms.ModelChoiceField(
                queryset=Cluster.objects.order_by("name"),
                required=False,
                empty_label="Any (the scheduler chooses)",
                help_text="Cloud admins: keep the instance in this cluster",
            )
            self.fields["host"] = forms.ModelChoiceField(
                queryset=Host.objects.select_related("cluster").order_by("name"),
                required=False,
                empty_label="Any (the scheduler chooses)",
                help_text="Cloud admins: build on this host (its capacity and the image's pool are still checked)",
            )
            self.fields["host"].label_from_instance = lambda host: f"{host.name} ({host.cluster.name}, {host.state})"
        self.fields["flavor"].queryset = Flavor.objects.usable_in(project)
        self.fields["image"].queryset = Image.objects.usable_in(project).filter(state=ImageState.ACTIVE)
        self.fields["key_pair"].queryset = KeyPair.objects.filter(project=project)
        choices = hooks.network_choices(project)
        if choices:  # networks come from the network app; without any, the host's default network
            self.fields["networks"] = forms.TypedMultipleChoiceField(
                choices=choices,
                coerce=int,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text="One NIC on each network chosen (none: the host's default network)",
            )
        groups, refusal = hooks.security_group_choices(project)
        self.fields["security_groups"] = forms.TypedMultipleChoiceField(
            choices=groups,
            coerce=int,
            required=False,
            disabled=bool(refusal),
            widget=forms.CheckboxSelectMultiple,
            help_text=refusal or "On each port of the instance (none: the project's default group)",
        )

    def launches(self):
        """The names to launch (count taken out of cleaned_data): the name itself for one."""
        count, name = self.cleaned_data.pop("count") or 1, self.cleaned_data.pop("name")
        return [name] if count == 1 else [f"{name}-{n}" for n in range(1, count + 1)]

    def placement_hints(self):
        """{"host": id, "cluster": id} of what a cloud admin chose (taken out of cleaned_data)."""
        picked = {key: self.cleaned_data.pop(key, None) for key in ("host", "cluster")}
        return {key: value.pk for key, value in picked.items() if value is not None} or None


class KeyPairForm(forms.Form):
    """A new key pair (no public key) or an imported one; compute.services.keypairs checks both."""

    name = forms.CharField(max_length=KeyPair._meta.get_field("name").max_length)
    public_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=MAX_PUBLIC_KEY,
        label="Public key",
        help_text="An OpenSSH public key, e.g. the contents of ~/.ssh/id_ed25519.pub",
    )

    def __init__(self, *args, imported, **kwargs):
        super().__init__(*args, **kwargs)
        if not imported:
            del self.fields["public_key"]


# --- cloud-admin forms (compute.views.admin) -----------------------------------------------


SAME_POOL_LABEL = "same name as the root disk's pool"  # the target_pool select's empty choice


def migration_targets(instance):
    """The hosts the instance may be moved to (up, not its own), by name."""
    return Host.objects.filter(state=HostState.UP).exclude(pk=instance.host_id).order_by("name")


def target_pool_groups(hosts):
    """[(host name, [(libvirt pool name, label)])]: the target_pool select's groups, the hosts
    reaching an active pool in their order, read in one query."""
    pools = hooks.pool_choices_of(hosts)
    return [(host.name, pools[host.pk]) for host in hosts if pools.get(host.pk)]


class MigrateForm(ActionErrorMixin, forms.Form):
    """The instance page's migrate form. Only the field types are checked here: the options'
    rules and the target's checks (the pool among them) are compute.migration's, as for the API."""

    target_host = forms.ModelChoiceField(
        queryset=Host.objects.none(), required=False, empty_label="scheduler's choice", label="Target"
    )
    live = forms.TypedChoiceField(
        choices=[("1", "live"), ("0", "cold (stopped)")], coerce=lambda v: v == "1", initial="1", label="Kind"
    )
    bandwidth_mib_s = forms.IntegerField(required=False, label="Bandwidth MiB/s")
    max_downtime_ms = forms.IntegerField(required=False, label="Max downtime ms")
    # On by default, as oVirt's default migration policy: a busy guest still converges.
    auto_converge = forms.BooleanField(required=False, initial=True, label="auto-converge")
    postcopy = forms.BooleanField(required=False, label="allow post-copy")
    compressed = forms.BooleanField(required=False)
    copy_storage = forms.BooleanField(required=False, label="copy storage")
    # data-pools-of: static/js/pool_filter.js keeps only the picked target's group.
    target_pool = forms.ChoiceField(
        required=False,
        label="Target pool",
        widget=forms.Select(attrs={"data-pools-of": "target_host"}),
        help_text="With copy storage: the target's pool for the root disk (default: a pool of the same name)",
    )
    reason = forms.CharField(max_length=255, required=False)

    def __init__(self, *args, instance, **kwargs):
        super().__init__(*args, **kwargs)
        targets = migration_targets(instance).select_related("cluster")
        self.fields["target_host"].queryset = targets
        self.targets = targets  # read once here (the pools below), then from its cache
        if instance.host_id is not None:
            self.fields["target_host"].label_from_instance = self._label_with_hint(instance, targets)
        chosen = self._chosen_target(targets)
        # Only the chosen target's pools; before a choice, every target's, grouped by host.
        self.fields["target_pool"].choices = [("", SAME_POOL_LABEL)] + target_pool_groups(
            [chosen] if chosen else list(targets)
        )

    @staticmethod
    def _label_with_hint(instance, targets):
        """A target's label with why a move there may be refused, the hints worked out (five
        queries) only when the select is drawn: the instance page draws its own, without them."""
        hints = None

        def label(host):
            nonlocal hints
            if hints is None:
                hints = migration.target_hints(instance, targets)
            return f"{host.name} ({hints[host.pk]})" if hints.get(host.pk) else host.name

        return label

    def _chosen_target(self, targets):
        pk = self.data.get("target_host") if self.is_bound else None
        return targets.filter(pk=pk).first() if pk and str(pk).isdigit() else None

    def options(self):
        """The migration options as compute.migration.start_migration takes them."""

        data = self.cleaned_data
        return {name: data[name] for name in OPTION_FIELDS if name in data and data[name] not in (None, "", False)}


class ImageForm(forms.ModelForm):
    """A new catalog image, queued until data is uploaded or imported (the model's clean() rules)."""

    class Meta:
        model = Image
        field_classes = {"name": NameField}
        fields = [
            "name",
            "format",
            "visibility",
            "project",
            "os_type",
            "min_disk_gb",
            "min_ram_mb",
            "checksum_sha256",
            "pool",
            "volume",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.state = ImageState.QUEUED


class ImageUploadForm(forms.Form):
    file = forms.FileField(help_text="qcow2 or raw; checked against the image's format and checksum")


class ImageImportForm(forms.Form):
    url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="An http(s) URL, fetched by the worker that runs the import (works on any fleet)",
    )
    path = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Or a file under NUBES_IMAGE_IMPORT_ROOTS on the machine of the worker that runs the import",
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("url")) == bool(data.get("path")):
            raise forms.ValidationError("Give either a URL or a path.")
        return data


class HostDeviceForm(forms.ModelForm):
    class Meta:
        model = HostDevice
        fields = ["pci_address", "kind", "description"]

    def __init__(self, *args, host, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.host = host


class DeviceAssignForm(forms.ModelForm):
    """Assign a device to an instance on its host (or free it); the model's clean() keeps it there."""

    class Meta:
        model = HostDevice
        fields = ["instance"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance"].queryset = Instance.objects.live().filter(host=self.instance.host_id)
        self.fields["instance"].required = False


def _metric_choices():
    """Every metric once, with its unit and the scopes that have it (the model's clean() refuses a
    metric its scope lacks, next to the field)."""
    choices = []
    for metric in sorted(set(INSTANCE_METRICS) | set(HOST_METRICS)):
        scopes = [scope for scope, known in (("instance", INSTANCE_METRICS), ("host", HOST_METRICS)) if metric in known]
        unit = (INSTANCE_METRICS.get(metric) or HOST_METRICS[metric])[0]
        choices.append((metric, f"{metric} ({', '.join(filter(None, [unit, ' or '.join(scopes)]))})"))
    return choices


class AlarmRuleForm(forms.ModelForm):
    """A cloud admin's alarm rule (the API's rules: the model's clean() keyed by field, plus the
    target's existence), so every refusal shows next to its field."""

    metric = forms.ChoiceField(choices=_metric_choices)

    class Meta:
        model = AlarmRule
        fields = ["name", "project", "scope", "target_id", "metric", "comparison", "threshold", "duration_s", "enabled"]
        labels = {"project": "Project (empty: cloud-wide)", "target_id": "Target id", "duration_s": "Held for (s)"}
        help_texts = {"target_id": "One instance or host by id; empty watches all of the scope."}

    def clean(self):
        cleaned = super().clean()
        target, scope = cleaned.get("target_id"), cleaned.get("scope")
        if target is not None and scope == Scope.INSTANCE:
            instances = Instance.objects.all()
            if cleaned.get("project") is not None:
                instances = instances.filter(project=cleaned["project"])
            if not instances.filter(pk=target).exists():
                self.add_error("target_id", "No such instance in the rule's project.")
        elif target is not None and scope == Scope.HOST and not Host.objects.filter(pk=target).exists():
            self.add_error("target_id", "No such host.")
        return cleaned
