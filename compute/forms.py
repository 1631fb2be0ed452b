"""The launch form: the same rules as the API (services.check_launch, placement)."""
from django import forms

from compute import hooks
from compute.choices import MAX_NAME_LENGTH, ImageState
from compute.models import Flavor, Image, KeyPair
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
