"""The service list as the other lists: a django-tables2 table over a django-filter FilterSet
(search by name, filter by state and template)."""

import django_filters
import django_tables2 as tables

from catalog.models import Service, ServiceState, ServiceTemplate
from portal.tables import StatusColumn, TemplateColumn, filterset

ServiceFilter = filterset(
    Service,
    ServiceState.choices,
    template=django_filters.ModelChoiceFilter(
        queryset=ServiceTemplate.objects.order_by("name"), empty_label="any template"
    ),
)


class ServiceTable(tables.Table):
    name = TemplateColumn('<a href="{% url "catalog:service" record.pk %}">{{ record.name }}</a>')
    project = tables.Column(accessor="project__name", verbose_name="Project")
    template = tables.Column(accessor="template__name", verbose_name="Template")
    flavor = tables.Column(accessor="flavor__name", verbose_name="Flavor")
    state = StatusColumn()
    status_reason = tables.Column(verbose_name="Reason", orderable=False)
    created = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        attrs = {"class": "table", "id": "services", "data-live-targets": "catalog.service"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No services yet: order one from the catalog."
