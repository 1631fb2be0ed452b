"""Alarm rules on pages, for cloud admins: list (django-tables2), create, edit, delete; a bad
rule is a field error next to its field with what was typed kept; tenants get the admin login."""

from compute.models import AlarmRule
from compute.models.metrics import Scope
from tests.list_pages import row_ids, signed_in

URL = "/compute/alarm-rules/"
VALID = {
    "name": "busy",
    "scope": "instance",
    "metric": "cpu_pct",
    "comparison": "gt",
    "threshold": "90",
    "duration_s": "60",
}


def test_an_admin_creates_lists_edits_and_deletes_a_rule(admin_user, project_a):
    admin = signed_in(admin_user)

    response = admin.post(f"{URL}new/", {**VALID, "project": project_a.pk, "enabled": "on"})

    assert response.status_code == 302 and response["Location"] == URL
    rule = AlarmRule.objects.get(name="busy")
    assert (rule.project, rule.threshold, rule.created_by) == (project_a, 90.0, admin_user)
    assert row_ids(admin, URL) == {rule.pk}
    assert row_ids(admin, f"{URL}?q=nothing") == set()
    assert "cpu_pct &gt; 90.0" in admin.get(URL).content.decode()

    edited = admin.post(f"{URL}{rule.pk}/", {**VALID, "name": "very-busy", "threshold": "95"})
    assert edited.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.threshold, rule.project, rule.enabled) == ("very-busy", 95.0, None, False)

    assert admin.post(f"{URL}{rule.pk}/delete/").status_code == 302
    assert not AlarmRule.objects.exists()


def test_a_bad_rule_is_a_field_error_next_to_its_field_and_keeps_what_was_typed(admin_user, project_a):
    admin = signed_in(admin_user)

    wrong_scope = admin.post(f"{URL}new/", {**VALID, "scope": "host", "metric": "disk_read_bps", "name": "keepme"})
    host_in_project = admin.post(f"{URL}new/", {**VALID, "scope": "host", "project": project_a.pk})
    no_target = admin.post(f"{URL}new/", {**VALID, "target_id": "999999"})
    too_long = admin.post(f"{URL}new/", {**VALID, "duration_s": "100000"})

    page = wrong_scope.content.decode()
    assert wrong_scope.status_code == 200 and 'data-error-for="metric"' in page and 'value="keepme"' in page
    assert 'data-error-for="scope"' in host_in_project.content.decode()
    assert (
        "No such instance" in no_target.content.decode() and 'data-error-for="target_id"' in no_target.content.decode()
    )
    assert 'data-error-for="duration_s"' in too_long.content.decode()
    assert not AlarmRule.objects.exists()


def test_tenants_may_not_reach_the_rule_pages(alice, project_a):
    rule = AlarmRule.objects.create(name="r", project=project_a, scope=Scope.INSTANCE, metric="cpu_pct", threshold=1)
    member = signed_in(alice)

    for response in (member.get(URL), member.get(f"{URL}new/"), member.post(f"{URL}{rule.pk}/delete/")):
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert AlarmRule.objects.filter(pk=rule.pk).exists()
