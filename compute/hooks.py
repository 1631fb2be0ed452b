"""Seams other apps plug into, so compute imports none of them (storage and network depend on
compute, never the other way round)."""
from django.dispatch import Signal

# Sent with `instance=` once the instance's domain is gone from its host.
instance_removed = Signal()
# Sent with `instance=` and `cause=` (what libvirt or the reconciler saw) when an instance the
# database held active stopped or crashed without Nubes asking; the scheduler's VM-level HA
# listens and restarts it within its restart limit.
instance_stopped_unexpectedly = Signal()

_disk_providers = []
_nic_providers = []


def register_disks(provider):
    """provider(instance) -> DiskSpecs to add after the root disk whenever the domain is (re)defined."""
    _disk_providers.append(provider)


def register_nics(provider):
    """provider(instance) -> NicSpecs; when any provider gives NICs they replace the default network's."""
    _nic_providers.append(provider)


def extra_disks(instance):
    return tuple(disk for provider in _disk_providers for disk in provider(instance))


def nics(instance):
    return tuple(nic for provider in _nic_providers for nic in provider(instance))
