from network.models.deployment import OvnDeployment
from network.models.load_balancers import LoadBalancer, LoadBalancerMember
from network.models.networks import Network, Subnet
from network.models.ports import IPAllocation, Port
from network.models.routers import FloatingIP, Router, RouterInterface
from network.models.security import SecurityGroup, SecurityGroupRule

__all__ = [
    "FloatingIP",
    "IPAllocation",
    "LoadBalancer",
    "LoadBalancerMember",
    "Network",
    "OvnDeployment",
    "Port",
    "Router",
    "RouterInterface",
    "SecurityGroup",
    "SecurityGroupRule",
    "Subnet",
]
