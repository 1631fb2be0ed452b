"""What the catalog registers when Django starts (CatalogConfig.ready): what a project purge
removes (services go first, each with its instance: their delete verb asks compute) and its
step in registering the lab (the service guest image and the PostgreSQL template)."""

from catalog import lab, services
from catalog.models import Service
from portal import lab as portal_lab
from portal import teardown

SERVICES = 5  # before compute's instances (10): a service's delete takes its instance along


def ready():
    teardown.register("services", SERVICES, lambda project: Service.objects.filter(project=project), services.delete)
    portal_lab.register_step(lab.LAB_ORDER, lab.register)
