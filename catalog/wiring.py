"""What the catalog registers when Django starts (CatalogConfig.ready): what a project purge
removes. Services go first, each with its instance (their delete verb asks compute)."""

from catalog import services
from catalog.models import Service
from portal import teardown

SERVICES = 5  # before compute's instances (10): a service's delete takes its instance along


def ready():
    teardown.register("services", SERVICES, lambda project: Service.objects.filter(project=project), services.delete)
