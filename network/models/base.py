"""What every realised network object shares: a UUID (the OVN row name) and its state."""

import uuid

from django.db import models

from network.choices import NAME_MAX, State


class Realised(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    state_reason = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self):
        return self.name or str(self.uuid)[:8]

    @property
    def ovn_id(self):
        """The hex id used in OVN names (port group names allow no dashes)."""
        return self.uuid.hex
