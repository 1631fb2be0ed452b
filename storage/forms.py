"""HTML forms; the rules live in the models and storage.services, shared with the API."""

from django import forms

from portal.names import NameField
from storage.choices import MAX_VOLUME_GB, CloneMode, DiskBus, DiskCache, Provisioning, SnapshotKind, VolumeFormat
from storage.models import StoragePool


class VolumeCreateForm(forms.Form):
    name = NameField(max_length=63)
    pool = forms.ModelChoiceField(queryset=StoragePool.objects.filter(state="active"))
    size_gb = forms.IntegerField(min_value=1, max_value=MAX_VOLUME_GB, label="Size (GiB)")
    format = forms.ChoiceField(choices=VolumeFormat.choices, initial=VolumeFormat.QCOW2)
    provisioning = forms.ChoiceField(choices=Provisioning.choices, initial=Provisioning.THIN)


class AttachForm(forms.Form):
    instance = forms.ModelChoiceField(queryset=None)
    bus = forms.ChoiceField(choices=DiskBus.choices)
    cache = forms.ChoiceField(choices=DiskCache.choices)
    readonly = forms.BooleanField(required=False)

    def __init__(self, *args, instances, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance"].queryset = instances


class ResizeForm(forms.Form):
    size_gb = forms.IntegerField(min_value=1, max_value=MAX_VOLUME_GB, label="New size (GiB)")


class SnapshotForm(forms.Form):
    name = NameField(max_length=63)


class InstanceSnapshotForm(SnapshotForm):
    kind = forms.ChoiceField(
        choices=SnapshotKind.choices,
        initial=SnapshotKind.INTERNAL,
        required=False,
        help_text="Internal: disks and memory inside the qcow2 file. External: every disk "
        "frozen behind a new overlay (disk-only; revert needs the instance stopped).",
    )


class CloneForm(forms.Form):
    name = NameField(max_length=63)
    mode = forms.ChoiceField(choices=CloneMode.choices)


class MigrateForm(forms.Form):
    pool = forms.ModelChoiceField(queryset=StoragePool.objects.filter(state="active"))
