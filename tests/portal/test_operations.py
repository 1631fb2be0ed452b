import pytest

from portal import operations, quotas
from portal.models import Operation, Quota


def test_a_second_operation_on_the_same_target_is_refused(project_a):
    first = operations.begin("project.recount_quota", project_a)
    with pytest.raises(operations.TargetBusy) as caught:
        operations.begin("project.recount_quota", project_a)
    assert caught.value.running.pk == first.pk
    assert Operation.objects.count() == 1


def test_a_finished_operation_frees_the_target(project_a):
    first = operations.begin("project.recount_quota", project_a)
    operations.succeed(first)
    second = operations.begin("project.recount_quota", project_a)
    assert second.pk != first.pk


def test_the_api_answers_409_with_the_running_operation(api, project_a):
    running = operations.begin("project.recount_quota", project_a)
    response = api["admin"].post(f"/api/v1/projects/{project_a.pk}/recount-quota/")
    assert response.status_code == 409
    assert response.json()["operation"] == running.pk


def test_recount_runs_as_an_operation_and_fixes_drifted_usage(api, project_a, run_tasks):
    quotas.register_counter("volumes", lambda project: 3)
    Quota.objects.filter(project=project_a, resource="volumes").update(in_use=42)
    with run_tasks():
        response = api["admin"].post(f"/api/v1/projects/{project_a.pk}/recount-quota/")
    assert response.status_code == 202
    assert response["Location"] == response.json()["url"]
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert op.progress == 100
    assert Quota.objects.get(project=project_a, resource="volumes").in_use == 3


def test_cancelling_a_queued_operation_cancels_it_at_once(project_a):
    op = operations.begin("x.y", project_a, cancellable=True)
    assert operations.request_cancel(op)
    op.refresh_from_db()
    assert op.status == "cancelled" and op.finished is not None


def test_a_running_operation_is_only_asked_to_cancel(project_a):
    op = operations.begin("x.y", project_a, cancellable=True)
    operations.mark_running(op)
    assert operations.request_cancel(op)
    op.refresh_from_db()
    assert op.status == "running" and op.cancel_requested


def test_an_operation_that_does_not_allow_cancel_refuses(api, project_a):
    op = operations.begin("x.y", project_a)
    response = api["alice"].post(f"/api/v1/operations/{op.pk}/cancel/")
    assert response.status_code == 409
    assert Operation.objects.get(pk=op.pk).status == "queued"


def test_operations_filter_by_status(api, project_a):
    done = operations.begin_untargeted("a", name="a", project=project_a)
    operations.succeed(done)
    operations.begin_untargeted("b", name="b", project=project_a)
    rows = api["alice"].get("/api/v1/operations/?status=succeeded").json()["results"]
    assert [row["id"] for row in rows] == [done.pk]


def test_a_restart_of_the_embedded_portal_fails_what_its_lost_queue_held(project_a, project_b):
    queued = operations.begin("project.recount_quota", project_a)
    running = operations.mark_running(operations.begin("project.recount_quota", project_b))
    done = operations.succeed(operations.begin_untargeted("demo.finished", name="x"))

    assert operations.fail_interrupted() == 2

    for op in (queued, running):
        op.refresh_from_db()
        assert op.status == "failed" and "Interrupted" in op.message
    done.refresh_from_db()
    assert done.status == "succeeded"
    operations.begin("project.recount_quota", project_a)  # the target is free again
