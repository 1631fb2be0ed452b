from django import forms

from scheduler.models import ClusterSchedulerSettings


class SettingsForm(forms.ModelForm):
    """The cluster's scheduler settings; the model's clean() holds the cross-field rules."""

    class Meta:
        model = ClusterSchedulerSettings
        exclude = ["cluster"]
