from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from portal import ratelimit
from portal.audit import client_ip
from portal.names import NameField


class RateLimitedLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "rate_limited": "Too many failed sign-ins. Wait a few minutes and try again.",
    }

    def clean(self):
        ip = client_ip(self.request)
        username = self.data.get("username", "")
        if ratelimit.blocked(ip, username):
            raise forms.ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            ratelimit.note_failure(ip, username)
            raise
        ratelimit.clear(ip, username)
        return cleaned


class TokenForm(forms.Form):
    name = NameField(max_length=100)
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.NUBES_TOKEN_MAX_DAYS,
        help_text=f"Leave empty for the longest lifetime, {settings.NUBES_TOKEN_MAX_DAYS} days.",
    )
