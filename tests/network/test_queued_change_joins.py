"""A change to a network object while its realise is still queued joins that Operation: the task
reads the object when it starts, so one run takes both changes. Before, the second change was a
409 ("port.update (operation N) is still queued on this resource") while the first waited for a
worker: python-openstackclient's `server remove security group` then `server add security group`
failed that way on a busy machine."""

import pytest

from network import services
from network.models import SecurityGroup
from portal.models import Operation
from portal.operations import TargetBusy

pytestmark = pytest.mark.django_db  # in a transaction: each dispatch waits for the test to run it


def test_a_second_change_joins_the_queued_realise(
    port, alice, project_a, run_tasks, django_capture_on_commit_callbacks
):
    with run_tasks():
        web, _ = services.create_security_group(alice, project_a, name="web")
    with django_capture_on_commit_callbacks(execute=False) as dispatched:
        _, first = services.update_port(alice, port, security_groups=[])
        assert Operation.objects.get(pk=first.pk).status == "queued"
        _, second = services.update_port(alice, port, security_groups=[web])
    assert second.pk == first.pk
    assert Operation.objects.filter(kind="port.update", target_id=str(port.pk)).count() == 1
    for callback in dispatched:  # the first change's dispatch, run now: one task for both changes
        callback()
    op = Operation.objects.get(pk=first.pk)
    assert op.status == "succeeded", op.error
    port.refresh_from_db()
    assert list(port.security_groups.all()) == [web]


def test_a_change_while_the_realise_runs_is_still_refused(port, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _, first = services.update_port(alice, port, security_groups=[])
    Operation.objects.filter(pk=first.pk).update(status="running")
    with pytest.raises(TargetBusy):
        services.update_port(alice, port, security_groups=list(SecurityGroup.objects.filter(project=port.project)))
