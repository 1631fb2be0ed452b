"""Demo data: each demo tenant gets a private network on the same CIDR (tenants overlap freely).
On OVN (the embedded default's own Northbound) the cloud admin also makes an external network,
so a tenant can give a router a gateway and take floating IPs from the first minute."""

from django.contrib.auth import get_user_model

from network import backends, services
from network.choices import Backend
from network.models import Network
from portal import operations
from portal.models import Project

DEMO_CIDR = "10.0.0.0/24"
DEMO_GATEWAY = "10.0.0.1"
PUBLIC = "public"
PUBLIC_CIDR = "203.0.113.0/24"  # TEST-NET-3 (RFC 5737): never routed, and no data plane here anyway
PUBLIC_GATEWAY = "203.0.113.1"


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
    seed_public(stdout)


def seed_public(stdout):
    admin = get_user_model().objects.filter(is_staff=True, username="admin").first()
    project = Project.objects.filter(name="acme").first()
    if backends.configured().name != Backend.OVN or admin is None or project is None:
        return
    if Network.objects.filter(external=True).exists():
        return
    network, _ = operations.run_inline(services.create_network, admin, project, name=PUBLIC, external=True)
    operations.run_inline(
        services.create_subnet, admin, network, cidr=PUBLIC_CIDR, gateway_ip=PUBLIC_GATEWAY, dns_nameservers=[]
    )
    stdout.write(
        f"Network: {PUBLIC} {PUBLIC_CIDR} (external: router gateways, floating IPs; {network.get_backend_display()})"
    )
