"""What compute registers when Django starts (ComputeConfig.ready imports this module once
the app registry is loaded, so it may import models at the top): websocket groups, beat
entries, quota counters, system checks, teardown, dashboard cards, lease settling, its lab
registration step and its root URL (/metrics)."""

from django.conf import settings
from django.core.checks import register as register_check
from django.db.models import Sum
from django.db.models.signals import post_delete
from django.urls import path

from compute import beat, domain, hooks, lab, teardown
from compute.api.metrics import AlarmSerializer
from compute.api.migration import MigrationSerializer
from compute.api.serializers import InstanceSerializer
from compute.checks import local_hosts_with_network_broker
from compute.choices import Action
from compute.metrics.prometheus import metrics_view
from compute.metrics.schedule import COLLECT_TASK, ROLLUP_INTERVAL_S, ROLLUP_TASK, metrics_interval
from compute.models import Alarm, Cluster, Host, Image, Instance, Migration
from compute.services import evacuation
from compute.services.migration import OPERATION_KIND
from compute.tasks import capture
from compute.tasks import images as image_tasks
from compute.tasks import instances as instance_tasks
from compute.tasks import migration as migration_tasks
from compute.tasks.overcommit import balloon_interval
from compute.views import cards  # noqa: F401  (registers the dashboard cards)
from portal import lab as portal_lab
from portal import leases, presenters, quotas, realtime, routes
from portal.celery import app

RECONCILE_TASK = "compute.tasks.reconcile_all"


def ready():
    register_check(local_hosts_with_network_broker)
    hooks.register_evacuation_advancer(evacuation.advance_evacuation)  # the migration tasks start the next
    # what the tasks publish: the API's representation
    presenters.register(Instance, InstanceSerializer)
    presenters.register(Migration, MigrationSerializer)
    presenters.register(Alarm, AlarmSerializer)
    realtime.register("compute.instance", lambda user: Instance.objects.visible_to(user))
    realtime.register("compute.migration", lambda user: Migration.objects.visible_to(user))
    # Host and cluster streams carry every tenant's load: cloud admins only.
    realtime.register("compute.host", lambda user: Host.objects.all() if user.is_staff else Host.objects.none())
    realtime.register(
        "compute.cluster", lambda user: Cluster.objects.all() if user.is_staff else Cluster.objects.none()
    )
    schedule = dict(app.conf.beat_schedule or {})
    schedule["compute-reconcile"] = {"task": RECONCILE_TASK, "schedule": float(settings.NUBES_RECONCILE_INTERVAL)}
    # a host whose event follower died is taken over within TTL + TTL/2
    schedule["compute-follow-events"] = {
        "task": "compute.tasks.follow_events",
        "schedule": max(1.0, settings.NUBES_FLEET_LOCK_TTL / 2),
    }
    schedule["compute-metrics-collect"] = {"task": COLLECT_TASK, "schedule": float(metrics_interval())}
    schedule["compute-metrics-rollup"] = {"task": ROLLUP_TASK, "schedule": float(ROLLUP_INTERVAL_S)}
    schedule["compute-balloon-policy"] = {"task": beat.balloon_policy.name, "schedule": float(balloon_interval())}
    app.conf.beat_schedule = schedule
    for resource, count in _counters().items():
        quotas.register_counter(resource, count)
    teardown.register()  # what a project purge removes: instances first
    leases.register(OPERATION_KIND, settle=migration_tasks.settle_lost)  # a lost worker's migration
    leases.register(f"instance.{Action.CREATE}", settle=instance_tasks.settle_lost_create)  # a lost worker's build
    leases.register("image.upload", settle=image_tasks.settle_lost_upload)  # its web process (or worker) died
    leases.register(capture.OPERATION_KIND, settle=capture.settle_lost)  # a lost worker's image of an instance
    post_delete.connect(domain.release_image_quota, sender=Image, dispatch_uid="compute-image-quota")
    for kind in ("host.register", "host.refresh"):
        leases.register(kind, resumable=True)  # reading a host's facts again is harmless
    portal_lab.register_step(lab.LAB_ORDER, lab.register)
    routes.register(path("metrics", metrics_view, name="prometheus-metrics"))


def _counters():
    def holding(project):
        return Instance.objects.filter(project=project, quota_held=True)

    def total(field):
        return lambda project: holding(project).aggregate(n=Sum(field))["n"] or 0

    return {
        "instances": lambda project: holding(project).count(),
        "vcpus": total("vcpus"),
        "ram_mb": total("ram_mb"),
        "disk_gb": total("disk_gb"),
        "images": lambda project: Image.objects.filter(project=project, instance_uuid__isnull=False).count(),
    }
