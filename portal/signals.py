from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from portal.models import Project, Quota

# Sent (sender=Project, project=..., user=...) inside the transaction that deletes a project,
# before the delete: apps remove what lives exactly as long as the project (e.g. network's
# default security group), so it does not block the delete or outlive it.
project_deleting = Signal()


@receiver(post_save, sender=Project)
def give_new_projects_default_quotas(sender, instance, created, **kwargs):
    if created:
        Quota.ensure_defaults(instance)
