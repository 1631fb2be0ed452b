"""The volume list as NetBox builds its lists: a django-tables2 table over a django-filter
FilterSet (search by name, filter by state and pool), with a checkbox column for bulk delete."""

import django_filters
import django_tables2 as tables

from portal.tables import StatusColumn, TemplateColumn, filterset, selection_column
from storage.choices import SnapshotKind, SnapshotState, VolumeState
from storage.models import Snapshot, StoragePool, Volume

VolumeFilter = filterset(
    Volume,
    VolumeState.choices,
    pool=django_filters.ModelChoiceFilter(queryset=StoragePool.objects.order_by("name"), empty_label="any pool"),
)


class VolumeTable(tables.Table):
    selection = selection_column("volumes")
    name = TemplateColumn(
        '<a href="{% url "storage:volume" record.pk %}">{{ record.name }}</a>'
        "{% if record.is_template %} <em>template</em>{% endif %}"
        "{% if record.is_raw_device %} <em>mapped device</em>{% endif %}"
        '{% if record.simulated %} <span class="badge simulated">simulated</span>{% endif %}'
    )
    project = tables.Column(accessor="project__name", verbose_name="Project")
    pool = tables.Column(accessor="pool__name", verbose_name="Pool")
    size_gb = TemplateColumn(
        "{{ value }} GiB <small>{{ record.get_provisioning_display|lower }}</small>", verbose_name="Size"
    )
    format = tables.Column(verbose_name="Format")
    state = StatusColumn()
    instance = TemplateColumn(
        '{% if record.instance %}<a href="{% url "compute:instance-detail" record.instance_id %}">'
        "{{ record.instance.name }}</a> <small>{{ record.target_dev }} · {{ record.get_bus_display }}</small>"
        "{% else %}—{% endif %}",
        verbose_name="Attached to",
        order_by="instance__name",
    )
    created = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        attrs = {"class": "table", "id": "volumes", "data-live-targets": "storage.volume"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No volumes yet."

    def __init__(self, *args, writable=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not writable:  # readers get no bulk controls
            self.columns.hide("selection")


SnapshotFilter = filterset(
    Snapshot, SnapshotState.choices, kind=django_filters.ChoiceFilter(choices=SnapshotKind.choices, empty_label="any")
)


class SnapshotTable(tables.Table):
    """Every snapshot the user may see, of volumes and of instances; each links to the tree it
    belongs to (where revert and delete are)."""

    name = tables.Column()
    of = TemplateColumn(
        '{% if record.volume_id %}volume <a href="{% url "storage:volume" record.volume_id %}">{{ record.volume.name }}</a>'
        '{% else %}instance <a href="{% url "storage:instance-snapshots" record.instance_id %}">'
        "{{ record.instance.name }}</a>{% endif %}",
        verbose_name="Of",
        order_by=("volume__name", "instance__name"),
    )
    project = tables.Column(accessor="project__name", verbose_name="Project")
    kind = tables.Column()
    with_memory = tables.BooleanColumn(verbose_name="Memory")
    current = tables.BooleanColumn(verbose_name="Current")
    state = StatusColumn()
    created = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        attrs = {"class": "table", "id": "snapshots", "data-live-targets": "storage.snapshot storage.volume"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No snapshots yet: take one from a volume's or an instance's page."
