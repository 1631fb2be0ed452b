"""Tokens made before expiry existed have none: give each the longest lifetime counted from its
creation (every row has one), as if the limit had held when it was made. A token older than
NUBES_TOKEN_MAX_DAYS (as set when the migration runs) is expired by it; its owner makes a new one."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import ExpressionWrapper, F


def backfill_expiry(apps, schema_editor):
    lifetime = timedelta(days=settings.NUBES_TOKEN_MAX_DAYS)
    ApiToken = apps.get_model("portal", "ApiToken")
    ApiToken.objects.filter(expires__isnull=True).update(
        expires=ExpressionWrapper(F("created") + lifetime, output_field=models.DateTimeField())
    )


class Migration(migrations.Migration):
    dependencies = [("portal", "0002_operation_lease")]

    # Going back leaves the dates: they are valid for the old schema too.
    operations = [migrations.RunPython(backfill_expiry, migrations.RunPython.noop)]
