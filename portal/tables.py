"""What every list page shares, as NetBox builds its lists: a django-filter FilterSet bound to the
query string, a django-tables2 table over what it lets through (sort from the column headers,
pagination with per_page), and the columns every app's tables use."""

from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import django_filters
import django_tables2 as tables
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template import Context, Template
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django_tables2 import RequestConfig

from portal.errors import ActionError
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded

PAGE_SIZE = 50
REFUSALS = (ActionError, TargetBusy, QuotaExceeded, ValidationError, PermissionDenied)


def table_page(request, table_class, filterset_class, queryset, **table_kwargs):
    """(table, filterset) for a list page. An invalid filter (an unknown state) shows a field
    error and an empty table, never every row nor a 500."""
    filterset = filterset_class(request.GET or None, queryset=queryset)
    table = table_class(filterset.qs if filterset.is_bound else queryset, **table_kwargs)
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return table, filterset


def filterset(model, states=None, state_field="state", **filters):
    """A FilterSet class for a list: `q` searches the name, `state` (or `state_field`) filters
    by one of `states` (an unknown one is a field error), `filters` adds the list's own (a pool,
    a cluster) or replaces `q`."""
    fields = {"q": django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")}
    if states is not None:
        fields[state_field] = django_filters.ChoiceFilter(choices=states, empty_label=f"any {state_field}")
    fields.update(filters)
    meta = type("Meta", (), {"model": model, "fields": list(fields)})
    return type(f"{model.__name__}Filter", (django_filters.FilterSet,), {**fields, "Meta": meta})


@cache
def compiled(template_code):
    return Template(template_code)


class TemplateColumn(tables.TemplateColumn):
    """django-tables2's TemplateColumn, compiling its template_code once per process: the stock
    one compiles it again for every cell it renders (a page of 50 instances compiled 100
    templates, a third of the page's time)."""

    def render(self, record, table, value, bound_column, **kwargs):
        if not self.template_code:
            return super().render(record, table, value, bound_column, **kwargs)
        parent_context = getattr(table, "context", Context())
        context = self.get_context_data(record=record, table=table, value=value, bound_column=bound_column, **kwargs)
        with parent_context.update(context):
            parent_context["request"] = getattr(table, "request", None)
            return compiled(self.template_code).render(parent_context)


class StatusColumn(tables.Column):
    """A state as a coloured badge with its human label (the raw value names the CSS class and
    stays in data-state for scripts and tests)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("attrs", {"td": {"data-field-cell": "state"}})
        super().__init__(**kwargs)

    def render(self, value, record, bound_column):
        raw = bound_column.accessor.resolve(record)  # `value` is already the choice's label
        return format_html(
            '<span class="status status-{}" data-field="state" data-state="{}">{}</span>', raw, raw, value
        )


def selection_column(table_id):
    """The checkbox column of a list with bulk actions. The boxes belong to the form
    "<table id>-bulk" by their form attribute, so rows may hold forms of their own."""
    form = f"{table_id}-bulk"
    return tables.CheckBoxColumn(
        accessor="pk", attrs={"th__input": {"data-select-all": "", "form": form}, "td__input": {"form": form}}
    )


class FunctionColumn(tables.Column):
    """A cell computed from the row by a function (counts, joined names): sortable only when
    given an order_by of real fields."""

    def __init__(self, function, **kwargs):
        kwargs.setdefault("empty_values", ())
        kwargs.setdefault("orderable", "order_by" in kwargs)
        super().__init__(**kwargs)
        self.function = function

    def render(self, record):
        return self.function(record)


def gib(value):
    return f"{value} GiB"


def mib(value):
    return f"{value} MiB"


@dataclass(frozen=True)
class BulkAction:
    label: str  # what the button and the confirmation say: "Delete"
    verb: object  # verb(user, obj, request): one service call; its refusal is that row's message
    confirm: bool = False  # destructive: a confirmation page lists the rows first


def _back_to(request, back):
    """The list as the user left it (search, filters, sort, page: the form's `next`), if it is
    that list on this site; else the list's plain URL."""
    wanted = request.POST.get("next", "")
    path = urlsplit(wanted).path
    if path == back and url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure()):
        return wanted
    return back


def bulk(request, queryset, actions, back):
    """POST of a list's checkboxes (`selection`) and an `action`: the verb runs once per selected
    row the user may see (another tenant's ids are simply not found); each refusal is reported
    with its row's name and the others still run. A destructive action asks first, on a page."""
    back = _back_to(request, back)
    action = actions.get(request.POST.get("action", ""))
    if action is None:
        return HttpResponseBadRequest("Unknown bulk action.")
    ids = [value for value in request.POST.getlist("selection") if value.isdigit()]
    objects = list(queryset.filter(pk__in=ids))
    if not objects:
        messages.error(request, "Select at least one row first.")
        return redirect(back)
    if action.confirm and request.POST.get("confirmed") != "yes":
        context = {"action": action, "action_name": request.POST["action"], "objects": objects, "back": back}
        return render(request, "portal/bulk_confirm.html", context)
    done = []
    for obj in objects:
        try:
            action.verb(request.user, obj, request)
        except REFUSALS as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"{obj}: {text}")
        else:
            done.append(str(obj))
    if done:
        messages.success(request, f"{action.label}: {', '.join(done)}.")
    return redirect(back)


class OperationTable(tables.Table):
    """The task log. Cells keep the data-field names static/js/realtime.js updates live, and the
    column order its new rows use."""

    id = TemplateColumn('<a href="{% url "operation-detail" record.pk %}">{{ record.pk }}</a>', verbose_name="#")
    kind = tables.Column(verbose_name="Action")
    target_name = tables.Column(verbose_name="Target")
    status = TemplateColumn(
        '<span class="status status-{{ record.status }}" data-field="status">{{ record.status }}</span>'
    )
    progress = TemplateColumn('<progress max="100" value="{{ record.progress }}" data-field="progress"></progress>')
    message = TemplateColumn(
        "{% load tenant_safe %}{% tenant_safe record.message %}",
        orderable=False,
        attrs={"td": {"data-field": "message"}},
    )
    requester = tables.Column(accessor="requester__username", verbose_name="By", default="system")
    created = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="Started")

    class Meta:
        attrs = {"class": "table", "id": "operations", "data-subscribe-project": "1"}
        row_attrs = {"data-operation": lambda record: record.pk}
        empty_text = "No operations yet."
