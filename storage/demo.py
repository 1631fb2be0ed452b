"""Demo data: each simulated demo host's 'default' pool and the 'shared' pool all of them see
(both declared in their node files) adopted. The demo image's root disks go on the shared one."""

from django.contrib.auth import get_user_model

from compute.models import Host
from portal import operations
from storage import services
from storage.models import StoragePool

DEFAULT_POOL = "default"
DEFAULT_POOL_PATH = "/var/lib/libvirt/images"  # as the node files in hypervisor/nodes declare it
SHARED_POOL = "shared"
SHARED_POOL_NAME = "demo-shared"
SHARED_POOL_PATH = "/var/lib/nubes/demo-shared"


def seed(stdout):
    admin = get_user_model().objects.filter(is_staff=True).order_by("pk").first()
    if admin is None:
        return
    for host in Host.objects.filter(simulated=True).order_by("name"):
        name = f"{host.name}-{DEFAULT_POOL}"
        if StoragePool.objects.filter(name=name).exists():
            continue
        # Run here: `make run` seeds in a process of its own before the portal starts, and
        # the embedded broker keeps no queue across processes.
        operations.run_inline(
            services.define_pool,
            admin,
            hosts=[host],
            name=name,
            libvirt_name=DEFAULT_POOL,
            type="dir",
            target_path=DEFAULT_POOL_PATH,
        )
        stdout.write(f"Storage pool {name} registered on {host.name}.")
    shared = list(Host.objects.filter(simulated=True, cluster__name="demo").order_by("name"))
    if shared and not StoragePool.objects.filter(name=SHARED_POOL_NAME).exists():
        operations.run_inline(
            services.define_pool,
            admin,
            hosts=shared,
            name=SHARED_POOL_NAME,
            libvirt_name=SHARED_POOL,
            type="dir",
            target_path=SHARED_POOL_PATH,
        )
        stdout.write(f"Storage pool {SHARED_POOL_NAME} registered on {', '.join(h.name for h in shared)} (shared).")
