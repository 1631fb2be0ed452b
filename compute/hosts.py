"""What a host serves, as the services (placement, migration checks) and the tasks (image
copies, migrations) both need it: below both."""

import hypervisor as hv
from compute import hooks


def pools_of(host):
    """libvirt names of the pools ``host`` serves: the active ones it reported (facts, kept by
    refreshes and the reconciler) and those storage records on it; None when it never reported."""
    reported = (host.facts or {}).get("pools")
    recorded = {name for name, _label in hooks.pool_choices(host)}
    if reported is None and not recorded:
        return None
    return set(reported or ()) | recorded


def storage_shared(instance, target):
    """True when the target sees the root volume at the same path (a shared pool)."""
    pool, volume = hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0]
    if instance.host.simulated and target.simulated and hooks.pool_shared(pool, instance.host, target):
        # The test driver shares nothing between hosts: a pool the portal registered on both
        # stands in for shared storage (the migration stands the volume up on the target).
        return True
    try:
        here = hv.volume_info(instance.host.uri, pool, volume)
        there = hv.volume_info(target.uri, pool, volume)
    except (hv.VolumeNotFound, hv.PoolNotFound):
        return False
    return here.path == there.path
