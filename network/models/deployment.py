"""Where the OVN control plane answers, kept in the portal (one row): `make lab` registers it
and `make run` then uses it without environment variables. NUBES_OVN_* variables, when set,
win over it (network/conf.py)."""

import re

from django.core.exceptions import ValidationError
from django.db import models

from network.choices import SegmentType

DEPLOYMENT_PK = 1
ENDPOINT_RE = re.compile(r"^(?:(?:tcp|ssl):[\w.\-\[\]:]+:\d{1,5}|unix:/\S+)$")
CHASSIS_RE = re.compile(r"^[\w.\-]{1,63}$")
ENDPOINT_HELP = "tcp:HOST:PORT, ssl:HOST:PORT or unix:/path; empty = no OVN"


def _check_endpoint(value, field):
    if value and not ENDPOINT_RE.match(value):
        raise ValidationError({field: f"{value!r} is not an OVSDB endpoint ({ENDPOINT_HELP})."})


class OvnDeployment(models.Model):
    """The OVN deployment the portal realises networks in (a singleton, pk 1)."""

    ENCAP_CHOICES = [(SegmentType.GENEVE, "Geneve"), (SegmentType.VXLAN, "VXLAN")]

    nb_connection = models.CharField("Northbound DB", max_length=255, blank=True, help_text=ENDPOINT_HELP)
    sb_connection = models.CharField("Southbound DB", max_length=255, blank=True, help_text=ENDPOINT_HELP)
    gateway_chassis = models.CharField(
        max_length=500,
        blank=True,
        help_text="Chassis names for router gateways, highest priority first, comma-separated",
    )
    encap_type = models.CharField(max_length=8, choices=ENCAP_CHOICES, default=SegmentType.GENEVE)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OVN deployment"

    def __str__(self):
        return self.nb_connection or "no OVN"

    @classmethod
    def current(cls):
        """The saved deployment, or an unsaved empty one (reading never writes)."""
        return cls.objects.filter(pk=DEPLOYMENT_PK).first() or cls(pk=DEPLOYMENT_PK)

    def save(self, *args, **kwargs):
        self.pk = DEPLOYMENT_PK
        super().save(*args, **kwargs)

    def chassis_list(self):
        return [name.strip() for name in self.gateway_chassis.split(",") if name.strip()]

    def clean(self):
        self.nb_connection, self.sb_connection = self.nb_connection.strip(), self.sb_connection.strip()
        _check_endpoint(self.nb_connection, "nb_connection")
        _check_endpoint(self.sb_connection, "sb_connection")
        names = self.chassis_list()
        for name in names:
            if not CHASSIS_RE.match(name):
                raise ValidationError({"gateway_chassis": f"{name!r} is not a chassis name."})
        if len(set(names)) != len(names):
            raise ValidationError({"gateway_chassis": "A chassis is named twice."})
        self.gateway_chassis = ",".join(names)
