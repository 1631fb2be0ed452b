from django.db.models.signals import post_save
from django.dispatch import receiver

from portal.models import Project, Quota


@receiver(post_save, sender=Project)
def give_new_projects_default_quotas(sender, instance, created, **kwargs):
    if created:
        Quota.ensure_defaults(instance)
