"""Hardening (issue 18), tokens created before expiry existed kept none: migration 0003 gives
each the longest lifetime from its creation, and 0004 makes an expiry required."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE, AFTER = ("portal", "0002_operation_lease"), ("portal", "0004_token_expires_required")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()  # the previous call's migrations are applied now
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def unapplied():
    """Migrations of the project not applied to the test database, after bringing it to the
    latest state: going back to portal 0002 unapplies every app's migrations that depend on a
    later portal one (catalog's 0003 on), and migrating portal forward again does not reapply
    them; the test database is shared with the modules that run after this one."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(leaves)
    executor.loader.build_graph()
    return executor.migration_plan(leaves)


@pytest.fixture
def latest_after():
    yield
    unapplied()


@pytest.mark.django_db(transaction=True)
def test_tokens_without_expiry_get_the_maximum_lifetime_from_their_creation(settings, django_user_model, latest_after):
    settings.NUBES_TOKEN_MAX_DAYS = 30
    user = django_user_model.objects.create_user("old-timer")
    old_apps = migrate(BEFORE)
    try:
        OldToken = old_apps.get_model("portal", "ApiToken")
        now = timezone.now()
        made = {}
        for name, age_days, expires in [
            ("fresh", 1, None),
            ("ancient", 400, None),  # older than the maximum: expired by the migration
            ("set", 1, now + timedelta(days=5)),  # had an expiry already: kept as it was
        ]:
            token = OldToken.objects.create(user_id=user.pk, name=name, key_id=name, secret_hash="x", expires=expires)
            OldToken.objects.filter(pk=token.pk).update(created=now - timedelta(days=age_days))
            made[name] = token.pk
    finally:
        new_apps = migrate(AFTER)
    Token = new_apps.get_model("portal", "ApiToken")
    tokens = {t.name: t for t in Token.objects.filter(pk__in=made.values())}
    assert abs(tokens["fresh"].expires - (tokens["fresh"].created + timedelta(days=30))) < timedelta(seconds=1)
    assert tokens["fresh"].expires > now
    assert tokens["ancient"].expires < now
    assert abs(tokens["set"].expires - (now + timedelta(days=5))) < timedelta(seconds=1)

    from portal.models import ApiToken

    assert set(ApiToken.objects.filter(user=user).usable().values_list("name", flat=True)) == {"fresh", "set"}
    assert ApiToken._meta.get_field("expires").null is False
    assert unapplied() == []  # the database is left as the other modules expect it
