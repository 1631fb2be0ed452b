"""The launch form: the same rules as the API (services.check_launch, placement)."""
from django import forms

from compute import hooks
from compute.choices import MAX_NAME_LENGTH, ImageState
from compute.models import Flavor, HostDevice, Image, Instance, KeyPair
from compute.models.instances import validate_instance_name


class LaunchForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME_LENGTH, validators=[validate_instance_name])
    flavor = forms.ModelChoiceField(queryset=Flavor.objects.none())
    image = forms.ModelChoiceField(queryset=Image.objects.none())
    key_pair = forms.ModelChoiceField(queryset=KeyPair.objects.none(), required=False)
    user_data = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                                help_text="cloud-init user data (kept for the NoCloud seed)")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["flavor"].queryset = Flavor.objects.usable_in(project)
        self.fields["image"].queryset = Image.objects.usable_in(project).filter(state=ImageState.ACTIVE)
        self.fields["key_pair"].queryset = KeyPair.objects.filter(project=project)
        choices = hooks.network_choices(project)
        if choices:  # networks come from the network app; without any, the host's default network
            self.fields["networks"] = forms.TypedMultipleChoiceField(
                choices=choices, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
                help_text="One NIC on each network chosen (none: the host's default network)")

    def add_action_error(self, exc):
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, str(exc))


# --- cloud-admin forms (compute.views_admin) -----------------------------------------------

class ImageForm(forms.ModelForm):
    """A new catalog image, queued until data is uploaded or imported (the model's clean() rules)."""

    class Meta:
        model = Image
        fields = ["name", "format", "visibility", "project", "os_type", "min_disk_gb", "min_ram_mb",
                  "checksum_sha256", "pool", "volume"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.state = ImageState.QUEUED


class ImageUploadForm(forms.Form):
    file = forms.FileField(help_text="qcow2 or raw; checked against the image's format and checksum")


class ImageImportForm(forms.Form):
    path = forms.CharField(max_length=1000, help_text="A file under NUBES_IMAGE_IMPORT_ROOTS on the portal's machine")


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
