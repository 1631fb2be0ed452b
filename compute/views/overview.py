"""The cloud admins' pages: the host list on django-tables2 with capacity used and free per
host, and the cloud overview (per cluster: hosts, vCPU / RAM / disk allocated against what the
overcommit ratios allow, instances; hosts needing attention; operations running and failed;
migrations running; alarms raised). Read from the database only."""

from datetime import timedelta

import django_filters
import django_tables2 as tables
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q, Sum
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html

from compute.choices import PLACED_STATES, HostState
from compute.models import Alarm, Cluster, Host, Migration
from compute.models.metrics import AlarmState
from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.models import Operation
from portal.tables import StatusColumn, TemplateColumn, filterset, table_page

FAILED_WINDOW = timedelta(hours=24)
RECENT = 20
ATTENTION_STATES = (HostState.DOWN, HostState.MAINTENANCE, HostState.STANDBY, HostState.ERROR)


def with_allocation(hosts):
    """Hosts annotated with what their placed instances hold: count, vCPU, RAM (MiB), disk (GiB)."""
    placed = Q(instances__state__in=PLACED_STATES)
    return hosts.annotate(
        placed=Count("instances", filter=placed),
        vcpus_used=Sum("instances__vcpus", filter=placed, default=0),
        ram_used_mb=Sum("instances__ram_mb", filter=placed, default=0),
        disk_used_gb=Sum("instances__disk_gb", filter=placed, default=0),
    )


def amount(value, scale=1):
    return format(round(value / scale, 1), "g")  # 2, 0.5, 31.5: no trailing ".0"


def usage(used, total, unit="", scale=1):
    """'used / total unit' with a meter; total 0 means not tracked."""
    if not total:
        return format_html("{} {} <small>(capacity not tracked)</small>", amount(used, scale), unit)
    ratio = used / total
    return format_html(
        '<meter min="0" max="1" high="0.85" value="{}" title="{} %"></meter> {} / {} {}',
        round(min(ratio, 1), 3),
        round(ratio * 100),
        amount(used, scale),
        amount(total, scale),
        unit,
    )


HostFilter = filterset(
    Host,
    HostState.choices,
    cluster=django_filters.ModelChoiceFilter(queryset=Cluster.objects.order_by("name"), empty_label="any cluster"),
)


class HostTable(tables.Table):
    name = TemplateColumn(
        '<a href="{% url "compute:host-detail" record.pk %}">{{ record.name }}</a>'
        '{% if record.simulated %} <span class="badge simulated">simulated</span>{% endif %}'
    )
    cluster = tables.Column(accessor="cluster__name", verbose_name="Cluster")
    state = StatusColumn()
    placed = tables.Column(verbose_name="Instances")
    vcpus_used = tables.Column(verbose_name="vCPU used / physical")
    ram_used_mb = tables.Column(verbose_name="RAM used / usable")
    disk_used_gb = tables.Column(verbose_name="Disk used / local")
    cpu_model = tables.Column(accessor="facts__cpu_model", verbose_name="CPU model", orderable=False, default="—")
    refreshed = tables.DateTimeColumn(format="Y-m-d H:i", default="never")

    class Meta:
        attrs = {"class": "table", "id": "hosts", "data-live-targets": "compute.host"}
        row_attrs = {"data-id": lambda record: record.pk}
        empty_text = "No hosts registered. Add one through the API (POST /api/v1/hosts/)."

    def render_vcpus_used(self, value, record):
        return usage(value, record.cpus, "vCPU")

    def render_ram_used_mb(self, value, record):
        return usage(value, max(record.memory_mb - record.reserved_memory_mb, 0), "GiB", scale=1024)

    def render_disk_used_gb(self, value, record):
        return usage(value, record.disk_gb, "GiB")


@staff_member_required
def hosts(request):
    table, filterset = table_page(
        request, HostTable, HostFilter, with_allocation(Host.objects.select_related("cluster"))
    )
    return render(request, "compute/hosts.html", {"table": table, "filter": filterset})


def cluster_rows():
    """Per cluster: hosts (up / all), what placed instances hold against what the hosts that are
    up offer times the cluster's overcommit ratio."""
    rows = []
    hosts = list(with_allocation(Host.objects.all()))
    for cluster in Cluster.objects.order_by("name"):
        mine = [h for h in hosts if h.cluster_id == cluster.pk]
        up = [h for h in mine if h.state == HostState.UP]
        rows.append(
            {
                "cluster": cluster,
                "hosts": len(mine),
                "up": len(up),
                "instances": sum(h.placed for h in mine),
                "vcpu": usage(
                    sum(h.vcpus_used for h in mine), sum(h.cpus for h in up) * cluster.cpu_overcommit, "vCPU"
                ),
                "ram": usage(
                    sum(h.ram_used_mb for h in mine),
                    sum(max(h.memory_mb - h.reserved_memory_mb, 0) for h in up) * cluster.ram_overcommit,
                    "GiB",
                    scale=1024,
                ),
                "disk": usage(
                    sum(h.disk_used_gb for h in mine), sum(h.disk_gb for h in up) * cluster.disk_overcommit, "GiB"
                ),
            }
        )
    return rows


@staff_member_required
def overview(request):
    since = timezone.now() - FAILED_WINDOW
    operations = Operation.objects.select_related("requester")
    context = {
        "clusters": cluster_rows(),
        "attention": Host.objects.filter(state__in=ATTENTION_STATES).select_related("cluster"),
        "running": operations.filter(status__in=ACTIVE_STATUSES)[:RECENT],
        "failed": operations.filter(status=OperationStatus.FAILED, created__gte=since)[:RECENT],
        "failed_count": operations.filter(status=OperationStatus.FAILED, created__gte=since).count(),
        "migrations": Migration.objects.active().select_related("instance", "source", "target")[:RECENT],
        "alarms": Alarm.objects.filter(state=AlarmState.RAISED).count(),
    }
    return render(request, "compute/overview.html", context)
