from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "storage"

    def ready(self):
        from portal import quotas, realtime
        from storage.models import Snapshot, StoragePool, Volume

        realtime.register("storage.volume", lambda user: Volume.objects.visible_to(user))
        realtime.register("storage.snapshot", lambda user: Snapshot.objects.visible_to(user))
        realtime.register("storage.storagepool", lambda user: StoragePool.objects.all())
        quotas.register_counter("volumes", lambda project: Volume.objects.filter(project=project, quota_held=True).count())
        quotas.register_counter("snapshots", lambda project: Snapshot.objects.filter(project=project, quota_held=True).count())
