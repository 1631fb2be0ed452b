"""Template tags of the live panels: metric charts and an instance's migration, usable as a
one-line include in any page that has the instance or host in its context."""

from django import template
from django.db.models import Case, Value, When

from compute.choices import HostState
from compute.forms import SAME_POOL_LABEL, migration_targets, target_pool_groups
from compute.metrics import charts
from compute.models import Host, Instance, Migration
from compute.models.metrics import Scope
from compute.models.migration import ACTIVE_MIGRATION_STATES

register = template.Library()
register.filter("figure_script", charts.figure_script)  # {{ figure|figure_script:"dom-id" }}
DASHBOARD_OBJECTS = 10  # traces on the dashboard chart (the websocket allows 64 groups)
MIGRATION_FIELDS = [field.name for field in Migration._meta.concrete_fields]


def _ranged(context, make, obj):
    """The charts over the range the page's ?range= asks for, with the selector's links."""
    key, seconds = charts.range_of(context["request"].GET.get("range", ""))
    ranges = [(value, label, value == key) for value, (label, _) in charts.RANGES.items()]
    return {"charts": make(obj, range_s=seconds), "window": charts.WINDOW, "ranges": ranges}


@register.inclusion_tag("compute/live/_charts.html", takes_context=True)
def instance_charts(context, instance):
    return _ranged(context, charts.instance_charts, instance)


@register.inclusion_tag("compute/live/_charts.html", takes_context=True)
def host_charts(context, host):
    return _ranged(context, charts.host_charts, host)


@register.inclusion_tag("compute/live/_charts.html", takes_context=True)
def dashboard_charts(context):
    user = context["request"].user
    if user.is_staff:
        hosts = Host.objects.filter(state__in=(HostState.UP, HostState.MAINTENANCE))[:DASHBOARD_OBJECTS]
        chart = charts.overview_chart("chart-dashboard", "Host CPU", hosts, Scope.HOST)
    else:
        instances = Instance.objects.visible_to(user).filter(state="active")[:DASHBOARD_OBJECTS]
        chart = charts.overview_chart("chart-dashboard", "Instance CPU", instances, Scope.INSTANCE)
    return {"charts": [chart], "window": charts.WINDOW}


@register.inclusion_tag("compute/live/_instance_migration.html", takes_context=True)
def instance_migration(context, instance):
    user = context["request"].user
    # The active migration if there is one, else the latest: one query.
    active_first = Case(When(state__in=ACTIVE_MIGRATION_STATES, then=Value(0)), default=Value(1))
    last = (
        Migration.objects.filter(instance=instance)
        .select_related("source", "target")
        .only(*MIGRATION_FIELDS, "source__name", "target__name")  # of its hosts, only their names are shown
        .order_by(active_first, *Migration._meta.ordering)
        .first()
    )
    active = last is not None and last.is_active
    # The migrate form, drawn only then, without a MigrateForm: its targets' names and their
    # pools' groups are all it shows (its per-target hints are the POST page's).
    targets = list(migration_targets(instance).only("name")) if user.is_staff and not active else []
    return {
        "instance": instance,
        "migration": last,
        "active": active,
        "targets": targets,
        "pool_groups": target_pool_groups(targets) if targets else [],
        "same_pool_label": SAME_POOL_LABEL,
        "staff": user.is_staff,
        "figure": charts.migration_figure(last),
        "csrf_token": context.get("csrf_token"),
    }
