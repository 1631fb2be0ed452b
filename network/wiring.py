"""What network registers when Django starts (NetworkConfig.ready imports this module once the
app registry is loaded, so it may import models at the top): websocket groups, quota counters,
compute's hooks, teardown, its beat entries, its lab registration step, its dashboard card and
the embedded default's own Northbound (a child process of runportal and seed_demo)."""

from compute import hooks
from network import beat, embedded, lab, signals, teardown
from network import conf as net_settings
from network.api.serializers import PortSerializer
from network.models import FloatingIP, LoadBalancer, Network, Port
from network.services import instances
from network.services.sync import SYNC_KIND
from network.views import cards  # noqa: F401  (registers the dashboard card)
from network.views.panels import instance_ports_panel
from portal import embedded as portal_embedded
from portal import lab as portal_lab
from portal import leases, presenters, quotas, realtime
from portal.celery import app as celery_app
from portal.signals import project_deleting


def ready():
    presenters.register(Port, PortSerializer)  # what port status changes publish
    realtime.register("network.port", lambda user: Port.objects.visible_to(user))
    # A network's group carries its ports: members of its own project only (not every
    # tenant that may use a shared or external network).
    realtime.register(
        "network.network",
        lambda user: (
            Network.objects.all() if user.is_staff else Network.objects.filter(project__memberships__user=user)
        ),
    )
    quotas.register_counter("networks", lambda project: Network.objects.filter(project=project).count())
    quotas.register_counter("floating_ips", lambda project: FloatingIP.objects.filter(project=project).count())
    quotas.register_counter("load_balancers", lambda project: LoadBalancer.objects.filter(project=project).count())
    # compute imports nothing of ours: it asks through its hooks.
    hooks.register_nics(instances.instance_nics)
    hooks.register_ports(instances.make_instance_ports, instances.launch_choices)
    hooks.register_security_groups(instances.launch_security_groups)
    hooks.register_migration_check(instances.migration_check)
    hooks.register_addresses(instances.instance_addresses)
    hooks.register_instance_panel(instance_ports_panel)
    hooks.instance_migrating.connect(instances.migration_starting, dispatch_uid="network-migration-starting")
    hooks.instance_migration_ended.connect(instances.migration_ended, dispatch_uid="network-migration-ended")
    hooks.instance_removed.connect(instances.instance_removed, dispatch_uid="network-unplug-instance")
    project_deleting.connect(signals.remove_default_groups, dispatch_uid="network-default-groups")
    teardown.register()  # what a project purge removes, in order
    leases.register(SYNC_KIND, resumable=True)  # the sync makes the backend match the database: run it again
    # The sync is this app's periodic task; beat reads the schedule from the Celery app.
    celery_app.conf.beat_schedule = {
        **(celery_app.conf.beat_schedule or {}),
        "network-sync": {"task": beat.sync_periodic.name, "schedule": float(net_settings.sync_interval())},
        "network-port-status": {
            "task": "network.tasks.port_status_periodic",
            "schedule": float(net_settings.port_status_interval()),
        },
    }
    portal_lab.register_step(lab.LAB_ORDER, lab.register)
    portal_embedded.register(embedded.start)  # the embedded default's own OVN Northbound
