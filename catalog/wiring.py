"""What the catalog registers when Django starts (CatalogConfig.ready): what a project purge
removes (services go first, each with its instance: their delete verb asks compute) and its
step in registering the lab (the service guest image and the PostgreSQL template), the beat
entries of scheduled backups and of the services' metrics, and their websocket group."""

from django.conf import settings

from catalog import beat, lab, services
from catalog.models import Service
from portal import lab as portal_lab
from portal import realtime, teardown
from portal.celery import app

SERVICES = 5  # before compute's instances (10): a service's delete takes its instance along


def ready():
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "catalog-scheduled-backups": {
            "task": beat.scheduled_backups.name,
            "schedule": float(getattr(settings, "NUBES_BACKUP_BEAT_S", 300)),
        },
        "catalog-service-metrics": {
            "task": beat.collect_metrics.name,
            "schedule": float(getattr(settings, "NUBES_SERVICE_METRICS_S", 60)),
        },
    }
    # The service page's charts follow the samples published to catalog.service.<id>.
    realtime.register("catalog.service", lambda user: Service.objects.visible_to(user))
    teardown.register("services", SERVICES, lambda project: Service.objects.filter(project=project), services.delete)
    portal_lab.register_step(lab.LAB_ORDER, lab.register)
