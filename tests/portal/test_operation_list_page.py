"""The operations list on django-tables2 + django-filter: a tenant sees its projects'
operations and never another's, filters by status (an unknown one a field error) and searches
by target and action; rows keep what the live updates address."""

import re

from portal.choices import OperationStatus
from portal.models import Operation
from tests.list_pages import row_ids, signed_in

ROW = re.compile(r'data-operation="(\d+)"')


def test_a_tenant_sees_its_operations_filters_and_searches_them(alice, charlie, project_a, project_b):
    mine = Operation.objects.create(kind="volume.create", target_name="data", project=project_a)
    failed = Operation.objects.create(
        kind="instance.start", target_name="web", project=project_a, status=OperationStatus.FAILED
    )
    theirs = Operation.objects.create(kind="volume.create", target_name="data", project=project_b)
    client = signed_in(alice)
    assert row_ids(client, "/operations/", ROW) == {mine.pk, failed.pk}
    assert row_ids(signed_in(charlie), "/operations/", ROW) == {theirs.pk}
    assert row_ids(client, "/operations/?status=failed", ROW) == {failed.pk}
    assert row_ids(client, "/operations/?q=dat", ROW) == {mine.pk}
    assert row_ids(client, "/operations/?kind=instance", ROW) == {failed.pk}
    page = client.get("/operations/?status=bogus").content.decode()
    assert 'data-error-for="status"' in page
    page = client.get("/operations/").content.decode()
    assert 'data-subscribe-project="1"' in page and 'data-field="progress"' in page
