"""Threshold alarms: a rule (metric, comparison, threshold, duration) is checked on every
collection; an alarm is pending while the condition holds for less than the duration,
raised once it held long enough, and cleared when it stops holding. Raises and clears are
published to the object's group and, for instance alarms, to the project's group."""

import operator

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compute.models import Alarm, AlarmRule
from compute.models.metrics import OPEN_ALARM_STATES, AlarmState, Comparison, Scope
from portal import presenters, realtime

COMPARE = {
    Comparison.GT: operator.gt,
    Comparison.GE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LE: operator.le,
}
ALARM_EVENT = "alarm"
RAISE, CLEAR, START, DROP = "raise", "clear", "start", "drop"


def breached(rule, value):
    return value is not None and COMPARE[rule.comparison](value, rule.threshold)


def transition(state, breach_since, is_breached, now, duration_s):
    """What to do with an alarm: START a pending one, RAISE, CLEAR a raised one, DROP a
    pending one, or None. ``state`` is None when no alarm is open."""
    if is_breached:
        if state is None:
            return RAISE if duration_s <= 0 else START
        if state == AlarmState.PENDING and now - breach_since >= duration_s:
            return RAISE
        return None
    if state == AlarmState.RAISED:
        return CLEAR
    if state == AlarmState.PENDING:
        return DROP
    return None


def rules_for(scope, readings):
    rules = AlarmRule.objects.filter(enabled=True, scope=scope)
    if scope == Scope.INSTANCE:
        projects = {project for _name, project, _values in readings.values()}
        rules = rules.filter(Q(project__isnull=True) | Q(project_id__in=projects))
    return list(rules)


def evaluate(scope, readings, ts):
    """readings: {object id: (name, project id or None, {metric: value})}. Returns the
    alarms raised and cleared by this collection."""
    rules = rules_for(scope, readings) if readings else []
    if not rules:
        return [], []
    open_alarms = {
        (a.rule_id, a.object_id): a
        for a in Alarm.objects.filter(rule__in=rules, state__in=OPEN_ALARM_STATES, object_id__in=list(readings))
    }
    raised, cleared = [], []
    with transaction.atomic():
        for rule in rules:
            for object_id, (name, project_id, values) in readings.items():
                if rule.target_id not in (None, object_id) or rule.project_id not in (None, project_id):
                    continue
                value = values.get(rule.metric)
                alarm = open_alarms.get((rule.pk, object_id))
                step = transition(
                    alarm.state if alarm else None,
                    alarm.breach_since if alarm else ts,
                    breached(rule, value),
                    ts,
                    rule.duration_s,
                )
                if step is None:
                    continue
                changed = _apply(step, rule, alarm, scope, object_id, name, project_id, value, ts)
                if step == RAISE:
                    raised.append(changed)
                elif step == CLEAR:
                    cleared.append(changed)
    for alarm in raised + cleared:
        publish(alarm)
    return raised, cleared


def _apply(step, rule, alarm, scope, object_id, name, project_id, value, ts):
    if step == DROP:
        alarm.delete()
        return alarm
    if alarm is None:
        alarm = Alarm(
            rule=rule,
            project_id=project_id if scope == Scope.INSTANCE else None,
            scope=scope,
            object_id=object_id,
            object_name=name[:255],
            breach_since=ts,
        )
    alarm.value = value if value is not None else alarm.value
    if step == RAISE:
        alarm.state, alarm.raised_at = AlarmState.RAISED, timezone.now()
    elif step == CLEAR:
        alarm.state, alarm.cleared_at = AlarmState.CLEARED, timezone.now()
    alarm.save()
    return alarm


def publish(alarm):
    data = presenters.present(alarm)
    own = f"compute.{alarm.scope}.{alarm.object_id}"
    if alarm.project_id:
        realtime.publish_to_project(alarm.project_id, ALARM_EVENT, data, also=[own])
    else:
        realtime.publish(own, ALARM_EVENT, data)
