"""How to switch a host on and off: its power driver and BMC credentials (encrypted)."""

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from scheduler import choices as c
from scheduler import crypto

MAC_RE = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
MAX_PORT = 65535


class PowerDriverConfig(models.Model):
    host = models.OneToOneField("compute.Host", on_delete=models.CASCADE, related_name="power_driver")
    kind = models.CharField(max_length=16, choices=c.PowerDriverKind.choices, default=c.PowerDriverKind.SIMULATED)
    address = models.CharField(
        max_length=500, blank=True, help_text="IPMI: BMC host; Redfish: the system's URL; Wake-on-LAN: MAC address"
    )
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_PORT)]
    )
    username = models.CharField(max_length=64, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.kind} power for {self.host}"

    def set_password(self, plain):
        self.password_encrypted = crypto.encrypt(plain)

    def password(self):
        return crypto.decrypt(self.password_encrypted)

    @property
    def has_password(self):
        return bool(self.password_encrypted)

    def clean(self):
        address = self.address.strip()
        if self.kind == c.PowerDriverKind.SIMULATED:
            return
        if not address:
            raise ValidationError({"address": f"A {self.kind} driver needs an address."})
        if self.kind == c.PowerDriverKind.WOL and not MAC_RE.match(address):
            raise ValidationError({"address": "Wake-on-LAN needs the host's MAC address, e.g. 52:54:00:12:34:56."})
        if self.kind == c.PowerDriverKind.REDFISH:
            parts = urlsplit(address)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    {"address": "Redfish needs the system's URL, e.g. https://bmc.example/redfish/v1/Systems/1."}
                )
        if self.kind == c.PowerDriverKind.IPMI and not _is_host(address):
            raise ValidationError({"address": "IPMI needs the BMC's host name or IP address."})


def _is_host(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(HOSTNAME_RE.match(value))
    return True
