from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "network"

    def ready(self):
        from network import settings as net_settings
        from network.models import FloatingIP, LoadBalancer, Network
        from portal import quotas
        from portal.celery import app as celery_app

        quotas.register_counter("networks", lambda project: Network.objects.filter(project=project).count())
        quotas.register_counter("floating_ips", lambda project: FloatingIP.objects.filter(project=project).count())
        quotas.register_counter("load_balancers", lambda project: LoadBalancer.objects.filter(project=project).count())
        # The sync is this app's periodic task; beat reads the schedule from the Celery app.
        celery_app.conf.beat_schedule = {
            **(celery_app.conf.beat_schedule or {}),
            "network-sync": {"task": "network.tasks.sync_periodic", "schedule": float(net_settings.sync_interval())},
        }
