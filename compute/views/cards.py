"""compute's cards on the dashboard: instances, migrations in progress, alarms raised."""

from django.urls import reverse

from compute.models import Alarm, Instance, Migration
from compute.models.metrics import AlarmState
from portal.ui import register_card


def instances_card(request):
    if request.user.is_anonymous:
        return None
    instances = Instance.objects.visible_to(request.user).live()
    running = instances.filter(state="active").count()
    return {
        "title": "Instances",
        "value": instances.count(),
        "detail": f"{running} running",
        "url": reverse("compute:instances"),
    }


def migrations_card(request):
    if request.user.is_anonymous:
        return None
    migrations = Migration.objects.visible_to(request.user)
    running = migrations.active().count()
    return {"title": "Migrations", "value": running, "detail": "in progress", "url": reverse("compute:migrations")}


def alarms_card(request):
    if request.user.is_anonymous:
        return None
    raised = Alarm.objects.visible_to(request.user).filter(state=AlarmState.RAISED).count()
    return {"title": "Alarms", "value": raised, "detail": "raised now", "url": reverse("compute:alarms")}


register_card(instances_card)
register_card(migrations_card)
register_card(alarms_card)
