"""The network lists as NetBox builds its lists: one django-tables2 table and one django-filter
FilterSet per resource of network.views.resources.RESOURCES, made from its declaration (columns,
whether it has a state, its own page), so every list sorts, searches, filters and pages alike."""

from functools import cache

import django_filters
import django_tables2 as tables

from network.choices import State
from portal.tables import FunctionColumn, StatusColumn, TemplateColumn, filterset, selection_column

ROW_ACTIONS = "network/_row_actions.html"


def _has_field(model, name):
    return any(field.name == name for field in model._meta.get_fields())


@cache
def filterset_for(resource):
    model = resource.model
    if not _has_field(model, "name"):  # security group rules: no name to search, no state
        meta = type("Meta", (), {"model": model, "fields": []})
        return type(f"{model.__name__}Filter", (django_filters.FilterSet,), {"Meta": meta})
    return filterset(model, State.choices if _has_field(model, "state") else None)


@cache
def table_for(resource, slug):
    model = resource.model
    named = _has_field(model, "name")
    link = (
        f'<a href="{{% url "{resource.page}" record.pk %}}">{{{{ record }}}}</a>' if resource.page else "{{ record }}"
    )
    attributes = {
        "selection": selection_column(slug),
        "name": TemplateColumn(link, verbose_name="Name", order_by="name" if named else "pk"),
        "project": tables.Column(accessor="project__name", verbose_name="Project"),
    }
    if _has_field(model, "state"):
        attributes["state"] = StatusColumn()
    for number, (heading, function, *order_by) in enumerate(resource.columns):
        extra = {"order_by": order_by[0]} if order_by else {}
        attributes[f"column_{number}"] = FunctionColumn(
            function, verbose_name=heading, attrs={"td": {"data-field": _slug(heading)}}, **extra
        )
    attributes["actions"] = TemplateColumn(
        template_name=ROW_ACTIONS, verbose_name="", orderable=False, extra_context={"slug": slug, "resource": resource}
    )
    live, row_attrs = {"data-live-targets": model._meta.label_lower}, {"data-id": lambda record: record.pk}
    if resource.live:  # ports: their link status arrives as port events, on each port's group
        live["data-live-events"] = resource.live.rsplit(".", 1)[-1]
        row_attrs["data-port"] = lambda record: record.pk
        row_attrs["data-subscribe"] = lambda record: f"{resource.live}.{record.pk}"
    meta = {
        "attrs": {"class": "table", "id": slug, **live},
        "row_attrs": row_attrs,
        "empty_text": "Nothing yet.",
    }
    attributes["Meta"] = type("Meta", (), meta)
    return type(f"{model.__name__}Table", (tables.Table,), attributes)


def _slug(heading):
    return heading.lower().replace(" ", "-")
