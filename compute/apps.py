from django.apps import AppConfig

RECONCILE_TASK = "compute.tasks.reconcile_all"


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self):
        from django.conf import settings
        from django.core.checks import register

        from compute.checks import local_hosts_with_network_broker
        from compute.models import Instance
        from portal import quotas, realtime
        from portal.celery import app

        register(local_hosts_with_network_broker)
        realtime.register("compute.instance", lambda user: Instance.objects.visible_to(user))
        schedule = dict(app.conf.beat_schedule or {})
        schedule["compute-reconcile"] = {"task": RECONCILE_TASK, "schedule": float(settings.NUBES_RECONCILE_INTERVAL)}
        # a host whose event follower died is taken over within TTL + TTL/2
        schedule["compute-follow-events"] = {
            "task": "compute.tasks.follow_events",
            "schedule": max(1.0, settings.NUBES_FLEET_LOCK_TTL / 2),
        }
        app.conf.beat_schedule = schedule
        for resource, count in _counters().items():
            quotas.register_counter(resource, count)
        from compute import teardown

        teardown.register()  # what a project purge removes: instances first
        from compute import live
        from compute.views import cards  # noqa: F401  (registers the dashboard cards)

        live.ready()  # migration and metrics: websocket groups, beat entries, tasks
        from compute.tasks import overcommit as overcommit_tasks

        overcommit_tasks.ready()  # the balloon policy's beat entry
        from compute.services.migration import OPERATION_KIND
        from compute.tasks import migration as migration_tasks
        from portal import leases

        leases.register(OPERATION_KIND, settle=migration_tasks.settle_lost)  # a lost worker's migration
        for kind in ("host.register", "host.refresh"):
            leases.register(kind, resumable=True)  # reading a host's facts again is harmless


def _counters():
    from django.db.models import Sum

    from compute.models import Instance

    def holding(project):
        return Instance.objects.filter(project=project, quota_held=True)

    def total(field):
        return lambda project: holding(project).aggregate(n=Sum(field))["n"] or 0

    return {
        "instances": lambda project: holding(project).count(),
        "vcpus": total("vcpus"),
        "ram_mb": total("ram_mb"),
        "disk_gb": total("disk_gb"),
    }
