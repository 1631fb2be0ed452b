"""What the scheduler registers when Django starts (SchedulerConfig.ready imports this module
once the app registry is loaded, so it may import models at the top): compute's hooks (HA
admission, waking standby hosts to place on or for failover capacity, the instance page's HA
panel), the cluster's websocket group, its signal receivers and its beat entries."""

from compute import hooks
from compute.models import Cluster
from portal import presenters, realtime
from portal.celery import app
from scheduler import signals, teardown  # noqa: F401  (signals: finishes recommendations, VM-level HA)
from scheduler.api.serializers import HaEventSerializer
from scheduler.beat import beat_schedule
from scheduler.ha_events import CLUSTER_GROUP
from scheduler.models import HaEvent
from scheduler.services.admission import check_admission, standby_to_admit
from scheduler.tasks.power import wake_for_request
from scheduler.views.clusters import instance_ha_panel


def ready():
    presenters.register(HaEvent, HaEventSerializer)  # what HA events publish
    teardown.register()  # what a project purge removes: server groups
    hooks.register_admission_check(check_admission)
    hooks.register_admission_waker(standby_to_admit)
    hooks.register_host_waker(wake_for_request)
    hooks.register_instance_panel(instance_ha_panel)
    # The cluster's HA events are the cloud admins'; tenants follow their instances' groups.
    realtime.register(CLUSTER_GROUP, lambda user: Cluster.objects.all() if user.is_staff else Cluster.objects.none())
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}
