"""Seams other apps plug into, so compute imports none of them (storage and network depend on
compute, never the other way round)."""
from django.dispatch import Signal

from portal.errors import ActionError

# Sent with `instance=` once the instance's domain is gone from its host.
instance_removed = Signal()
# Sent with `instance=` and `cause=` (what libvirt or the reconciler saw) when an instance the
# database held active stopped or crashed without Nubes asking; the scheduler's VM-level HA
# listens and restarts it within its restart limit.
instance_stopped_unexpectedly = Signal()
# Sent with `instance=`, `source=`, `target=` (Hosts) and `copied_storage=` (the disks were
# copied along because the target cannot see their pool) once a migration succeeded and the
# database says the instance runs on the target; storage moves its volume records along.
instance_migrated = Signal()

_disk_providers = []
_nic_providers = []
_port_makers = []
_network_choices = []


def register_disks(provider):
    """provider(instance) -> DiskSpecs to add after the root disk whenever the domain is (re)defined."""
    _disk_providers.append(provider)


def register_nics(provider):
    """provider(instance) -> NicSpecs; when any provider gives NICs they replace the default network's."""
    _nic_providers.append(provider)


def register_ports(maker, choices):
    """maker(user, instance, network_ids) makes the instance's ports inside compute's create
    transaction (an ActionError keyed "networks" refuses the launch); choices(project) ->
    [(id, label)] of the networks the project may launch on (the launch form's options)."""
    _port_makers.append(maker)
    _network_choices.append(choices)


def make_ports(user, instance, network_ids):
    if network_ids and not _port_makers:
        raise ActionError("No network app is installed to attach networks.", field="networks")
    for maker in _port_makers:
        maker(user, instance, network_ids)


def network_choices(project):
    return [choice for choices in _network_choices for choice in choices(project)]


def extra_disks(instance):
    return tuple(disk for provider in _disk_providers for disk in provider(instance))


def nics(instance):
    return tuple(nic for provider in _nic_providers for nic in provider(instance))
