from django import forms

from compute.models import HaPriority
from scheduler.models import ClusterSchedulerSettings


class SettingsForm(forms.ModelForm):
    """The cluster's scheduler settings; the model's clean() holds the cross-field rules."""

    class Meta:
        model = ClusterSchedulerSettings
        exclude = ["cluster"]


class HaSettingsForm(forms.Form):
    """An instance's HA protection: off, or on with a restart priority (ha_priority 0 is off)."""

    enabled = forms.BooleanField(required=False, label="HA enabled")
    priority = forms.TypedChoiceField(
        coerce=int,
        choices=[(p.value, p.label) for p in HaPriority if p],
        label="Restart priority",
        help_text="Higher priorities restart first",
    )

    @staticmethod
    def initial_for(instance):
        return {
            "enabled": instance.ha_priority != HaPriority.DISABLED,
            "priority": instance.ha_priority or HaPriority.MEDIUM,
        }

    def ha_priority(self):
        return self.cleaned_data["priority"] if self.cleaned_data["enabled"] else HaPriority.DISABLED
