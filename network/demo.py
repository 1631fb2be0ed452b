"""Demo data: each demo tenant gets a private network on the same CIDR (tenants overlap freely)."""

from network import services
from network.models import Network
from portal import operations
from portal.models import Project

DEMO_CIDR = "10.0.0.0/24"
DEMO_GATEWAY = "10.0.0.1"


def seed(stdout):
    for project in Project.objects.filter(name__in=("acme", "globex")):
        if Network.objects.filter(project=project).exists():
            continue
        member = project.memberships.filter(role__in=("admin", "member")).select_related("user").first()
        user = member.user if member else None
        # Realised here, not queued: the seed process's in-memory queue dies with it.
        network, _ = operations.run_inline(services.create_network, user, project, name="private")
        operations.run_inline(
            services.create_subnet, user, network, cidr=DEMO_CIDR, gateway_ip=DEMO_GATEWAY, dns_nameservers=[]
        )
        stdout.write(f"Network: {project.name}/private {DEMO_CIDR} ({network.get_backend_display()})")
