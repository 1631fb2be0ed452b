"""The instance list as NetBox builds its lists: a django-tables2 table (sortable columns,
pagination) over a django-filter FilterSet (search by name, filter by state)."""

import django_filters
import django_tables2 as tables

from compute import hooks
from compute.choices import ImageState, InstanceState, Visibility
from compute.models import Image, Instance
from portal.tables import StatusColumn, filterset, gib, selection_column

InstanceFilter = filterset(Instance, InstanceState.choices)


class InstanceTable(tables.Table):
    selection = selection_column("instances")
    name = tables.TemplateColumn(
        '<a href="{% url "compute:instance-detail" record.pk %}">{{ record.name }}</a>{% if record.locked %} 🔒{% endif %}',
        attrs={"td": {"data-field": "name"}},
    )
    project = tables.Column(accessor="project__name", verbose_name="Project")
    state = StatusColumn()
    power_state = tables.Column(verbose_name="Power", attrs={"td": {"data-field": "power_state"}})
    addresses = tables.Column(
        empty_values=(), orderable=False, verbose_name="IP addresses", attrs={"td": {"data-field": "addresses"}}
    )
    flavor = tables.Column(accessor="flavor__name", verbose_name="Flavor")
    image = tables.Column(accessor="image__name", verbose_name="Image")
    host = tables.TemplateColumn(
        '{{ record.host.name|default:"—" }}{% if record.host.simulated %} <span class="badge simulated">simulated</span>{% endif %}',
        order_by="host__name",
    )
    created = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        attrs = {
            "class": "table",
            "id": "instances",
            "data-live-targets": "compute.instance",
            "data-live-events": "instance",
        }
        row_attrs = {"data-instance": lambda record: record.pk}
        empty_text = "No instances yet."
        orderable = True

    def render_addresses(self, record):
        if not hasattr(self, "_addresses"):  # one query for the page shown, not one per row
            rows = self.page.object_list if hasattr(self, "page") else self.rows
            self._addresses = hooks.addresses([row.record.pk for row in rows])
        return ", ".join(self._addresses.get(record.pk, ())) or "—"


ImageFilter = filterset(
    Image, ImageState.choices, visibility=django_filters.ChoiceFilter(choices=Visibility.choices, empty_label="any")
)


class ImageTable(tables.Table):
    """Public images and the user's projects' (Image.objects.visible_to); cloud admins link to
    each image's page."""

    name = tables.TemplateColumn(
        '{% if user.is_staff %}<a href="{% url "compute:image-detail" record.pk %}">{{ record.name }}</a>'
        "{% else %}{{ record.name }}{% endif %}",
        attrs={"td": {"data-field": "name"}},
    )
    format = tables.Column()
    virtual_size_gb = tables.Column(verbose_name="Size")
    min_disk_gb = tables.TemplateColumn("{{ value }} GiB / {{ record.min_ram_mb }} MiB", verbose_name="Min disk / RAM")
    os_type = tables.Column(verbose_name="OS")
    state = StatusColumn()
    visibility = tables.Column()
    project = tables.Column(accessor="project__name", default="—")
    volume = tables.TemplateColumn("<code>{{ record.pool }}/{{ record.volume }}</code>", verbose_name="Volume")

    class Meta:
        attrs = {"class": "table", "id": "images", "data-live-targets": "compute.image"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No images."

    def render_virtual_size_gb(self, value):
        return gib(value)
