"""Compute's lists as NetBox builds them: a django-tables2 table (sortable columns, pagination)
over a django-filter FilterSet (search by name, filter by state): instances, images, flavors,
key pairs."""

import django_filters
import django_tables2 as tables

from compute import hooks
from compute.choices import ImageState, InstanceState, Visibility
from compute.models import AlarmRule, Flavor, Image, Instance, KeyPair
from compute.models.metrics import Scope
from portal.tables import StatusColumn, TemplateColumn, filterset, gib, mib, selection_column

InstanceFilter = filterset(Instance, InstanceState.choices)


class InstanceTable(tables.Table):
    selection = selection_column("instances")
    name = TemplateColumn(
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
    host = TemplateColumn(
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

    name = TemplateColumn(
        '{% if user.is_staff %}<a href="{% url "compute:image-detail" record.pk %}">{{ record.name }}</a>'
        "{% else %}{{ record.name }}{% endif %}",
        attrs={"td": {"data-field": "name"}},
    )
    format = tables.Column()
    virtual_size_gb = tables.Column(verbose_name="Size")
    min_disk_gb = TemplateColumn("{{ value }} GiB / {{ record.min_ram_mb }} MiB", verbose_name="Min disk / RAM")
    os_type = tables.Column(verbose_name="OS")
    state = StatusColumn()
    visibility = tables.Column()
    project = tables.Column(accessor="project__name", default="—")
    volume = TemplateColumn("<code>{{ record.pool }}/{{ record.volume }}</code>", verbose_name="Volume")

    class Meta:
        attrs = {"class": "table", "id": "images", "data-live-targets": "compute.image"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No images."

    def render_virtual_size_gb(self, value):
        return gib(value)


FlavorFilter = filterset(Flavor, visibility=django_filters.ChoiceFilter(choices=Visibility.choices, empty_label="any"))


class FlavorTable(tables.Table):
    name = tables.Column(attrs={"td": {"data-field": "name"}})
    vcpus = tables.Column(verbose_name="vCPU", attrs={"td": {"data-field": "vcpus"}})
    ram_mb = tables.Column(verbose_name="RAM")
    disk_gb = tables.Column(verbose_name="Disk")
    cpu_policy = tables.Column(verbose_name="CPU policy")
    qos = TemplateColumn(
        "{% if record.cpu_shares %}shares {{ record.cpu_shares }} {% endif %}"
        "{% if record.cpu_limit_pct %}limit {{ record.cpu_limit_pct }}% {% endif %}"
        "{% if record.cpu_reservation_mhz %}reserve {{ record.cpu_reservation_mhz }} MHz{% endif %}",
        verbose_name="QoS",
        orderable=False,
    )
    numa_nodes = TemplateColumn("{{ value }}{% if record.hugepages %}, hugepages{% endif %}", verbose_name="NUMA nodes")
    visibility = tables.Column()

    class Meta:
        attrs = {"class": "table", "id": "flavors"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No flavors."

    def render_ram_mb(self, value):
        return mib(value)

    def render_disk_gb(self, value):
        return gib(value)


KeyPairFilter = filterset(KeyPair)


class KeyPairTable(tables.Table):
    """A delete button on the rows of projects the user may write to (writable_project_ids)."""

    name = tables.Column(attrs={"td": {"data-field": "name"}})
    project = tables.Column(accessor="project__name", verbose_name="Project")
    fingerprint = TemplateColumn('<code data-field="fingerprint">{{ value }}</code>', orderable=False)
    created = tables.DateTimeColumn(format="Y-m-d H:i")
    actions = TemplateColumn(template_name="compute/_keypair_actions.html", verbose_name="", orderable=False)

    class Meta:
        attrs = {"class": "table", "id": "keypairs"}
        row_attrs = {"data-keypair": lambda record: record.name}
        empty_text = "No key pairs yet."


AlarmRuleFilter = filterset(
    AlarmRule,
    scope=django_filters.ChoiceFilter(choices=[(Scope.INSTANCE, "Instance"), (Scope.HOST, "Host")], empty_label="any"),
    enabled=django_filters.BooleanFilter(),
)


class AlarmRuleTable(tables.Table):
    name = TemplateColumn(
        '<a href="{% url "compute:alarm-rule-edit" record.pk %}">{{ record.name }}</a>',
        attrs={"td": {"data-field": "name"}},
    )
    project = tables.Column(accessor="project__name", default="cloud-wide")
    scope = TemplateColumn("{{ record.get_scope_display }}{% if record.target_id %} #{{ record.target_id }}{% endif %}")
    metric = TemplateColumn(
        "{{ record.metric }} {{ record.get_comparison_display }} {{ record.threshold }}", verbose_name="Condition"
    )
    duration_s = TemplateColumn("{{ value }} s", verbose_name="Held for")
    enabled = tables.BooleanColumn()
    actions = TemplateColumn(
        '<form method="post" class="inline" action="{% url "compute:alarm-rule-delete" record.pk %}"'
        ' data-confirm="Delete alarm rule {{ record.name }} and its alarms?">{% csrf_token %}'
        '<button type="submit" class="danger">Delete</button></form>',
        verbose_name="",
        orderable=False,
    )

    class Meta:
        attrs = {"class": "table", "id": "alarm-rules"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No alarm rules yet."
