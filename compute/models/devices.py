"""PCI devices of a host (physical functions or SR-IOV virtual functions) that a cloud admin
assigns to an instance for passthrough. The domain XML carries them as <hostdev>; no machine
Nubes is built and tested on has VFIO/SR-IOV hardware, so nothing here has run on a device."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from compute.models.infrastructure import Host
from compute.models.instances import Instance

PCI_ADDRESS = RegexValidator(
    r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$",
    "A PCI address is domain:bus:slot.function in lowercase hex, e.g. 0000:03:10.1.",
)
PASSTHROUGH_NOTE = (
    "PCI passthrough and SR-IOV need VFIO hardware; the machines Nubes is built and tested on have "
    "none, so assigned devices appear in the domain XML but have never run on a device."
)


class DeviceKind(models.TextChoices):
    PCI = "pci", "PCI device (whole function)"
    SRIOV_VF = "sriov-vf", "SR-IOV virtual function"


class HostDevice(models.Model):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="devices")
    pci_address = models.CharField(max_length=12, validators=[PCI_ADDRESS])
    kind = models.CharField(max_length=16, choices=DeviceKind.choices, default=DeviceKind.PCI)
    description = models.CharField(max_length=200, blank=True, help_text="e.g. Intel X710 VF")
    instance = models.ForeignKey(
        Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="host_devices"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["host__name", "pci_address"]
        constraints = [models.UniqueConstraint(fields=["host", "pci_address"], name="device_once_per_host")]

    def __str__(self):
        return f"{self.pci_address} on {self.host}"

    def clean(self):
        if self.instance_id and self.host_id and self.instance.host_id != self.host_id:
            raise ValidationError({"instance": "A device is assigned only to an instance on its own host."})
