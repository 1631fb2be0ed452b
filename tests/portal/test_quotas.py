import threading

import pytest
from django.db import close_old_connections, connection, transaction

from portal import quotas
from portal.models import Project, Quota


def test_taking_within_the_limit_counts_usage(project_a):
    with transaction.atomic():
        quotas.take(project_a, instances=2, vcpus=4)
    usage = quotas.usage(project_a)
    assert usage["instances"]["in_use"] == 2 and usage["vcpus"]["in_use"] == 4


def test_exceeding_one_resource_takes_nothing_at_all(project_a):
    Quota.objects.filter(project=project_a, resource="vcpus").update(limit=2)
    with pytest.raises(quotas.QuotaExceeded) as caught:
        with transaction.atomic():
            quotas.take(project_a, instances=1, vcpus=4)
    assert "vCPUs" in str(caught.value)
    assert quotas.usage(project_a)["instances"]["in_use"] == 0


def test_giving_back_never_goes_below_zero(project_a):
    quotas.give_back(project_a, instances=5)
    assert quotas.usage(project_a)["instances"]["in_use"] == 0


@pytest.mark.django_db(transaction=True)
def test_take_outside_a_transaction_is_a_programming_error():
    project = Project.objects.create(name="loose")
    with pytest.raises(RuntimeError):
        quotas.take(project, instances=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_cannot_both_take_the_last_unit():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to test")
    project = Project.objects.create(name="race")
    Quota.objects.filter(project=project, resource="instances").update(limit=1)
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                quotas.take(project, instances=1)
                outcomes.append("took")
        except quotas.QuotaExceeded:
            outcomes.append("refused")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "took"]
    assert Quota.objects.get(project=project, resource="instances").in_use == 1
