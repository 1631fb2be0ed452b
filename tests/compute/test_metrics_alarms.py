"""Threshold alarms: pending until the condition has held for the rule's duration, then
raised; cleared when it stops holding; published live; rules see only their project."""

import pytest
from django.core.exceptions import ValidationError

from compute.metrics import alarms
from compute.models import Alarm, AlarmRule
from compute.models.metrics import AlarmState, Scope
from tests.compute.live_helpers import published, running  # noqa: F401

T0 = 1_790_000_000


@pytest.mark.parametrize(
    "state, since, breached, now, duration, expected",
    [
        (None, T0, True, T0, 0, alarms.RAISE),
        (None, T0, True, T0, 60, alarms.START),
        (AlarmState.PENDING, T0, True, T0 + 59, 60, None),
        (AlarmState.PENDING, T0, True, T0 + 60, 60, alarms.RAISE),
        (AlarmState.PENDING, T0, False, T0 + 30, 60, alarms.DROP),
        (AlarmState.RAISED, T0, True, T0 + 999, 60, None),
        (AlarmState.RAISED, T0, False, T0 + 999, 60, alarms.CLEAR),
        (None, T0, False, T0, 60, None),
    ],
)
def test_transitions(state, since, breached, now, duration, expected):
    assert alarms.transition(state, since, breached, now, duration) == expected


def cpu(instance, value):
    return {instance.pk: (instance.name, instance.project_id, {"cpu_pct": value})}


@pytest.fixture
def rule(running):
    return AlarmRule.objects.create(
        name="busy", project=running.project, metric="cpu_pct", comparison="gt", threshold=80, duration_s=20
    )


def test_an_alarm_is_raised_after_the_duration_and_cleared_after(running, rule, published):
    assert alarms.evaluate(Scope.INSTANCE, cpu(running, 95), T0) == ([], [])
    assert Alarm.objects.get().state == AlarmState.PENDING
    assert alarms.evaluate(Scope.INSTANCE, cpu(running, 97), T0 + 10) == ([], [])
    raised, _ = alarms.evaluate(Scope.INSTANCE, cpu(running, 99), T0 + 20)
    assert [a.state for a in raised] == [AlarmState.RAISED] and raised[0].value == 99
    _, cleared = alarms.evaluate(Scope.INSTANCE, cpu(running, 10), T0 + 30)
    assert [a.state for a in cleared] == [AlarmState.CLEARED]
    events = [(g, d["state"]) for g, e, d in published if e == "alarm"]
    assert events == [
        (running.group, "raised"),
        (f"project.{running.project_id}", "raised"),
        ("cloud", "raised"),  # cloud admins' pages follow every project (portal.realtime)
        (running.group, "cleared"),
        (f"project.{running.project_id}", "cleared"),
        ("cloud", "cleared"),
    ]


def test_a_short_spike_never_raises(running, rule):
    alarms.evaluate(Scope.INSTANCE, cpu(running, 95), T0)
    alarms.evaluate(Scope.INSTANCE, cpu(running, 20), T0 + 10)
    assert not Alarm.objects.exists()


def test_another_projects_rule_does_not_watch_the_instance(running, project_b):
    AlarmRule.objects.create(name="theirs", project=project_b, metric="cpu_pct", comparison="gt", threshold=1)
    assert alarms.evaluate(Scope.INSTANCE, cpu(running, 95), T0) == ([], [])


def test_a_rule_on_one_instance_ignores_the_others(running, rule):
    rule.target_id, rule.duration_s = running.pk + 1000, 0
    rule.save()
    assert alarms.evaluate(Scope.INSTANCE, cpu(running, 95), T0) == ([], [])


def test_host_alarms_come_from_cloud_wide_rules(hosts, published):
    AlarmRule.objects.create(name="hot host", scope=Scope.HOST, metric="cpu_pct", comparison="ge", threshold=90)
    raised, _ = alarms.evaluate(Scope.HOST, {hosts[0].pk: ("host-a", None, {"cpu_pct": 90.0})}, T0)
    assert len(raised) == 1 and raised[0].project_id is None
    assert [g for g, e, _ in published if e == "alarm"] == [f"compute.host.{hosts[0].pk}"]


def test_a_host_rule_cannot_belong_to_a_project(project_a):
    rule = AlarmRule(name="x", project=project_a, scope=Scope.HOST, metric="cpu_pct", threshold=1)
    with pytest.raises(ValidationError, match="cloud-wide"):
        rule.clean()
