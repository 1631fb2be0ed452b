from io import StringIO

from storage import demo
from storage.models import StoragePool


def test_seed_registers_each_demo_hosts_default_pool_once(admin_user, host, host_b):
    # No worker runs here, as none runs in the `make run` seed process: the seed defines them itself.
    demo.seed(StringIO())
    demo.seed(StringIO())
    pools = StoragePool.objects.order_by("name")
    assert [(p.name, p.libvirt_name, p.state) for p in pools] == [
        ("host-a-default", "default", "active"),
        ("host-b-default", "default", "active"),
    ]
