"""Seams other apps plug into, so compute imports none of them (storage and network depend on
compute, never the other way round); and one seam inside compute: the migration tasks ask the
evacuation service for the next waiting migrations (a task does not import a service)."""

from dataclasses import dataclass

from django.dispatch import Signal

from portal.errors import ActionError, Conflict

# Sent with `instance=` once the instance's domain is gone from its host.
instance_removed = Signal()
# Sent with `instance=` and `cause=` (what libvirt or the reconciler saw) when an instance the
# database held active stopped or crashed without Nubes asking; the scheduler's VM-level HA
# listens and restarts it within its restart limit.
instance_stopped_unexpectedly = Signal()
# Sent with `instance=` and `disks=` ({target dev: what failed}, possibly empty) when QEMU paused
# the instance because its storage failed a read or write; storage marks the pools in error.
instance_io_error = Signal()
# Sent with `instance=`, `source=`, `target=` (Hosts) and `copied_storage=` (the disks were
# copied along because the target cannot see their pool) once a migration succeeded and the
# database says the instance runs on the target; storage moves its volume records along.
# With `root_disk=(pool, volume name, path)` compute copied the root disk into that pool of the
# target (the source's file is removed); storage records the root disk there.
instance_migrated = Signal()
# Sent with `instance=`, `source=`, `target=` (Hosts) and `live=` just before libvirt starts
# moving the domain, and `instance_migration_ended` with `instance=`, `source=`, `target=` and
# `where=` (the Host the domain ended on) after any outcome; network binds OVN ports on both.
instance_migrating = Signal()
instance_migration_ended = Signal()

_host_wakers = []
_evacuation_advancers = []
_admission_checks = []
_admission_wakers = []
_instance_panels = []
_disk_providers = []
_nic_providers = []
_port_makers = []
_network_choices = []
_group_choices = []
_migration_checks = []
_address_providers = []
_pool_choices = []


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


def register_security_groups(choices):
    """choices(project) -> ([(id, label)] of the security groups a launch may put on the
    instance's ports, the reason none can be chosen or None). The port maker takes the ids."""
    _group_choices.append(choices)


def register_migration_check(check):
    """check(instance, target_host) -> None when the app has nothing against moving the
    instance there, else the reason in a sentence (compute's pre-checks refuse with it)."""
    _migration_checks.append(check)


def register_pool_choices(choices):
    """choices(hosts) -> {host pk: [(libvirt pool name, label)]} of the storage pools each host
    reaches (the migrate form's target_pool options), from the database in one read."""
    _pool_choices.append(choices)


def pool_choices(host):
    return pool_choices_of([host]).get(host.pk, [])


def pool_choices_of(hosts):
    """{host pk: [(libvirt pool name, label)]} for several hosts at once (a host with none left out)."""
    return _merged(_pool_choices, hosts)


def _merged(providers, objects):
    """{pk: values} of every provider(objects) -> {pk: [value, ...]}, their lists joined."""
    found = {}
    for provider in providers:
        for pk, values in provider(objects).items():
            found.setdefault(pk, []).extend(values)
    return found


_pool_sharing = []


def register_pool_sharing(shared):
    """shared(libvirt pool name, host, other host) -> whether the portal records that pool as
    one storage both hosts see (a shared pool), from the database."""
    _pool_sharing.append(shared)


def pool_shared(pool, host, other):
    return any(shared(pool, host, other) for shared in _pool_sharing)


_image_users = []


def register_image_users(users):
    """users(image) -> what of the app still reads the image's volume on a host (a linked
    clone's backing file), each named for a refusal; an image is not deleted while any is."""
    _image_users.append(users)


def image_users(image):
    return [name for users in _image_users for name in users(image)]


def register_admission_check(check):
    """check(instance_or_flavor, cluster, waking=None) raises ActionError when starting it would
    eat the cluster's failover capacity (the scheduler's HA admission control)."""
    _admission_checks.append(check)


def check_admission(instance_or_flavor, cluster, waking=None):
    for check in _admission_checks:
        check(instance_or_flavor, cluster, waking=waking)


def register_admission_waker(finder):
    """finder(instance_or_flavor, cluster) -> the standby host whose waking would let HA admission
    control admit a start or create it refuses as the cluster is now (the scheduler's DPM), or None."""
    _admission_wakers.append(finder)


def host_to_wake_for_admission(instance_or_flavor, cluster):
    for finder in _admission_wakers:
        host = finder(instance_or_flavor, cluster)
        if host is not None:
            return host
    return None


def register_host_waker(waker):
    """waker(host, operation) powers a standby host on for the operation and returns once it
    is up, or raises ActionError naming the host and what happened (the scheduler's DPM)."""
    _host_wakers.append(waker)


def wake_host(host, operation):
    if not _host_wakers:
        raise ActionError(f"Host {host.name} is in standby and no app is installed to wake it.")
    for waker in _host_wakers:
        waker(host, operation)


def register_evacuation_advancer(advance):
    """advance(host, user=None) -> [Operation]: start an evacuation's waiting migrations off the
    host while fewer than its batch run (compute's evacuation service, registered from wiring).
    The migration task calls it when a migration of the evacuation ends, the wake task once the
    standby hosts are up: each migration starts through the verb, with its pre-checks."""
    _evacuation_advancers.append(advance)


def advance_evacuation(host, user=None):
    started = []
    for advance in _evacuation_advancers:
        started += advance(host, user=user)
    return started


def register_addresses(provider):
    """provider(instance_ids) -> {instance id: [address, ...]}: the instance list's IP column."""
    _address_providers.append(provider)


def addresses(instance_ids):
    return _merged(_address_providers, instance_ids)


def register_instance_panel(panel):
    """panel(request, instance) -> HTML for a card on the instance's page, or "" for none."""
    _instance_panels.append(panel)


def instance_panels(request, instance):
    return [html for html in (panel(request, instance) for panel in _instance_panels) if html]


def migration_refusals(instance, target):
    """The reasons the registered apps give against moving ``instance`` to ``target``."""
    return [why for why in (check(instance, target) for check in _migration_checks) if why]


def make_ports(user, instance, network_ids, security_group_ids=()):
    if network_ids and not _port_makers:
        raise ActionError("No network app is installed to attach networks.", field="networks")
    if security_group_ids and not _port_makers:
        raise ActionError("No network app is installed for security groups.", field="security_groups")
    for maker in _port_makers:
        maker(user, instance, network_ids, security_group_ids)


def security_group_choices(project):
    """([(id, label)], why none can be chosen or None), from the network app (none: no choices)."""
    for choices in _group_choices:
        return choices(project)
    return [], "No network app is installed."


def network_choices(project):
    return [choice for choices in _network_choices for choice in choices(project)]


def extra_disks(instance):
    return tuple(disk for provider in _disk_providers for disk in provider(instance))


def nics(instance):
    return tuple(nic for provider in _nic_providers for nic in provider(instance))


# --- the root disk's current file ------------------------------------------------------------


@dataclass(frozen=True)
class RootDisk:
    """Where an instance's root disk is now, when an app keeps a chain of files for it
    (storage's external instance snapshots put a new overlay on top of the fixed root volume)."""

    path: str  # the active file the domain uses
    files: tuple  # (pool, volume name) of every file of the chain, newest first
    frozen: str = ""  # why the root disk cannot be replaced or moved now ("" when it can)


_root_disk_providers = []
# Sent with `instance=` when compute replaced the root disk by a new fixed root volume (rebuild),
# after removing every file of the old chain: an app that kept the chain forgets it.
root_disk_replaced = Signal()


def register_root_disk(provider):
    """provider(instance) -> RootDisk, or None to leave compute's fixed root volume in place."""
    _root_disk_providers.append(provider)


def root_disk(instance):
    for provider in _root_disk_providers:
        found = provider(instance)
        if found is not None:
            return found
    return None


def root_disk_path(instance, default):
    """The root disk's active file, or ``default`` (compute's fixed root volume) when no app keeps a chain."""
    found = root_disk(instance)
    return found.path if found is not None else default


def root_disk_files(instance, default):
    """Every file of the root disk's chain as (pool, volume name), newest first, or ``default``."""
    found = root_disk(instance)
    return tuple(found.files) if found is not None else tuple(default)


def check_root_disk(instance, action):
    """Conflict (409) when the root disk cannot be replaced or moved now; ``action`` names what was asked."""
    found = root_disk(instance)
    if found is not None and found.frozen:
        raise Conflict(f"Cannot {action} {instance.name}: {found.frozen}")
