"""When an Operation of an approved recommendation finishes, finish the recommendation; when
compute reports an instance stopped unexpectedly, VM-level HA decides about a restart."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from compute import hooks
from portal.choices import FINAL_STATUSES
from portal.models import Operation
from scheduler.choices import RecommendationState
from scheduler.models import ClusterSchedulerSettings, Recommendation
from scheduler.tasks import failover, recommendations


@receiver(post_save, sender=Operation, dispatch_uid="scheduler.operation_finished")
def operation_finished(sender, instance, created, update_fields=None, **kwargs):
    if created or instance.status not in FINAL_STATUSES:
        return
    if update_fields is not None and "status" not in update_fields:
        return

    for pk in Recommendation.objects.filter(operations=instance, state=RecommendationState.APPROVED).values_list(
        "pk", flat=True
    ):
        recommendations.finalize(pk)


def _ensure_settings(sender, instance, created, **kwargs):
    if created:
        ClusterSchedulerSettings.objects.get_or_create(cluster=instance)


post_save.connect(_ensure_settings, sender="compute.Cluster", dispatch_uid="scheduler.cluster_settings")


def _stopped_unexpectedly(sender, instance, cause, **kwargs):
    failover.restart_crashed(instance, cause)


hooks.instance_stopped_unexpectedly.connect(_stopped_unexpectedly, dispatch_uid="scheduler.vm_ha")
