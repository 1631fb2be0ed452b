"""The verbs of the network domain: the only code views and the API call. Each verb checks
the rules and quotas, writes the intended state and queues the Operation that realises it."""

from network.services.deployment import update_deployment
from network.services.instances import nic_spec, plug_instance, unplug_instance
from network.services.l2 import (
    create_network,
    create_port,
    create_subnet,
    delete_network,
    delete_port,
    delete_subnet,
    update_network,
    update_port,
    update_subnet,
)
from network.services.l3 import (
    add_interface,
    associate,
    create_floating_ip,
    create_load_balancer,
    create_router,
    delete_floating_ip,
    delete_load_balancer,
    delete_router,
    disassociate,
    remove_interface,
    update_load_balancer,
    update_router,
)
from network.services.security import (
    create_rule,
    create_security_group,
    delete_rule,
    delete_security_group,
    ensure_default_group,
    update_security_group,
)
from network.services.sync import start_sync

__all__ = [
    "add_interface",
    "associate",
    "create_floating_ip",
    "create_load_balancer",
    "create_network",
    "create_port",
    "create_router",
    "create_rule",
    "create_security_group",
    "create_subnet",
    "delete_floating_ip",
    "delete_load_balancer",
    "delete_network",
    "delete_port",
    "delete_router",
    "delete_rule",
    "delete_security_group",
    "delete_subnet",
    "disassociate",
    "ensure_default_group",
    "nic_spec",
    "plug_instance",
    "remove_interface",
    "start_sync",
    "unplug_instance",
    "update_deployment",
    "update_load_balancer",
    "update_network",
    "update_port",
    "update_router",
    "update_security_group",
    "update_subnet",
]
