"""What a network backend answers. The database holds the intended state; a backend makes the
control plane match it, idempotently, and raises BackendError (an ActionError, so the
Operation fails with the reason) when it cannot."""

from dataclasses import dataclass, field

from portal.errors import ActionError


class BackendError(ActionError):
    """The control plane could not be reached or refused the change."""


class Unsupported(ActionError):
    """This backend cannot do that (e.g. routers on libvirt networks)."""


@dataclass
class SyncReport:
    realised: dict = field(default_factory=dict)  # kind -> objects checked
    repaired: int = 0  # rows created or changed because they were missing or edited
    removed: int = 0  # objects marked for deletion and now gone
    orphans: list = field(default_factory=list)  # rows with our marker but no object
    errors: list = field(default_factory=list)

    def summary(self):
        checked = ", ".join(f"{count} {kind}" for kind, count in sorted(self.realised.items())) or "nothing"
        text = f"Checked {checked}; repaired {self.repaired} rows; removed {self.removed}; {len(self.orphans)} orphans"
        return text + (f"; {len(self.errors)} errors" if self.errors else "")


class NetworkBackend:
    name = ""
    label = ""
    note = ""  # what a user should know about this control plane (e.g. no data plane), or ''
    supports_routers = False
    supports_security_groups = False
    supports_load_balancers = False

    def require(self, feature, what):
        if not getattr(self, f"supports_{feature}"):
            raise Unsupported(
                f"The {self.label} network backend has no {what}. Configure OVN (NUBES_OVN_NB) to use them."
            )

    def realise_network(self, network):
        raise NotImplementedError

    def tunnel_keys_in_use(self):
        """Tunnel keys the control plane holds beyond this portal's database."""
        return set()

    def remove_network(self, network):
        raise NotImplementedError

    def realise_port(self, port):
        raise NotImplementedError

    def remove_port(self, port):
        raise NotImplementedError

    def realise_security_group(self, group):
        self.require("security_groups", "security groups")

    def remove_security_group(self, group):
        self.require("security_groups", "security groups")

    def realise_router(self, router):
        self.require("routers", "routers")

    def remove_router(self, router):
        self.require("routers", "routers")

    def realise_load_balancer(self, load_balancer):
        self.require("load_balancers", "load balancers")

    def remove_load_balancer(self, load_balancer):
        self.require("load_balancers", "load balancers")

    def sync(self, clean_orphans=False):
        return SyncReport()

    def nic_for(self, port):
        """What compute puts in the instance's domain XML for this port (hypervisor NicSpec kwargs)."""
        raise NotImplementedError
