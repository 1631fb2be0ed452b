"""/metrics in Prometheus' text format: portal counters (operations by kind and status,
their durations), instances, hosts, migrations and alarms by state, and the latest host and
instance gauges from the collector. Open to a bearer token (NUBES_METRICS_TOKEN) or to
clients in NUBES_METRICS_ALLOWED_NETWORKS (default: loopback only)."""

import hmac
import ipaddress

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET

from compute.models import Alarm, Host, Instance, MetricCursor, Migration
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS
from portal.env import env_list, env_str
from portal.models import Operation
from portal.proxies import client_address

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_NETWORKS = ("127.0.0.0/8", "::1/128")
PREFIX = "nubes_"


def _setting(name, read):
    value = getattr(settings, name, None)
    return value if value is not None else read()


def allowed(request):
    token = _setting("NUBES_METRICS_TOKEN", lambda: env_str("NUBES_METRICS_TOKEN", ""))
    header = request.headers.get("Authorization", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    ):
        return True
    networks = _setting(
        "NUBES_METRICS_ALLOWED_NETWORKS", lambda: env_list("NUBES_METRICS_ALLOWED_NETWORKS", DEFAULT_NETWORKS)
    )
    try:
        address = ipaddress.ip_address(client_address(request) or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


def escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Families in order, each with HELP and TYPE once."""

    def __init__(self):
        self.lines = []

    def family(self, name, kind, help_text, samples):
        self.lines.append(f"# HELP {PREFIX}{name} {help_text}")
        self.lines.append(f"# TYPE {PREFIX}{name} {kind}")
        for labels, value, *suffix in samples:
            label_text = ",".join(f'{key}="{escape(val)}"' for key, val in labels.items())
            metric = f"{PREFIX}{name}{suffix[0] if suffix else ''}"
            self.lines.append(
                f"{metric}{{{label_text}}} {float(value):g}" if label_text else f"{metric} {float(value):g}"
            )

    def text(self):
        return "\n".join(self.lines) + "\n"


def _counts(queryset, *fields):
    return [
        ({f: row[f] for f in fields}, row["n"])
        for row in queryset.values(*fields).annotate(n=Count("pk")).order_by(*fields)
    ]


def _durations():
    finished = Operation.objects.filter(started__isnull=False, finished__isnull=False).annotate(
        took=ExpressionWrapper(F("finished") - F("started"), output_field=DurationField())
    )
    rows = finished.values("kind").annotate(total=Sum("took"), n=Count("pk")).order_by("kind")
    samples = []
    for row in rows:
        seconds = row["total"].total_seconds() if row["total"] is not None else 0.0
        samples.append(({"kind": row["kind"]}, seconds, "_sum"))
        samples.append(({"kind": row["kind"]}, row["n"], "_count"))
    return samples


def _gauges(out):
    hosts = {h.pk: h for h in Host.objects.select_related("cluster")}
    cursors = list(MetricCursor.objects.filter(host__in=list(hosts)))
    instance_ids = {int(pk) for cursor in cursors for pk in cursor.latest.get("instances", {})}
    instances = {i.pk: i for i in Instance.objects.filter(pk__in=instance_ids).select_related("project")}
    for metric, (unit, help_text) in HOST_METRICS.items():
        samples = []
        for cursor in cursors:
            value = cursor.latest.get("host", {}).get(metric)
            host = hosts[cursor.host_id]
            if value is not None:
                samples.append(
                    (
                        {
                            "host": host.name,
                            "cluster": host.cluster.name,
                            "simulated": str(bool(cursor.latest.get("simulated"))).lower(),
                        },
                        value,
                    )
                )
        out.family(f"host_{metric}", "gauge", f"{help_text} ({unit or 'count'})", samples)
    for metric, (unit, help_text) in INSTANCE_METRICS.items():
        samples = []
        for cursor in cursors:
            for pk, values in cursor.latest.get("instances", {}).items():
                instance = instances.get(int(pk))
                if instance is not None and values.get(metric) is not None:
                    samples.append(
                        (
                            {
                                "instance": instance.name,
                                "uuid": instance.uuid,
                                "project": instance.project.name,
                                "host": hosts[cursor.host_id].name,
                            },
                            values[metric],
                        )
                    )
        out.family(f"instance_{metric}", "gauge", f"{help_text} ({unit or 'count'})", samples)


def render():
    out = Exposition()
    out.family(
        "operations_total",
        "counter",
        "Operations by kind and status",
        _counts(Operation.objects.all(), "kind", "status"),
    )
    out.family(
        "operation_duration_seconds", "summary", "Time from start to finish of finished operations", _durations()
    )
    out.family("instances", "gauge", "Instances by state", _counts(Instance.objects.all(), "state"))
    out.family("hosts", "gauge", "Hosts by state", _counts(Host.objects.all(), "state"))
    out.family("migrations_total", "counter", "Migrations by state", _counts(Migration.objects.all(), "state"))
    out.family("alarms", "gauge", "Alarms by state", _counts(Alarm.objects.all(), "state"))
    _gauges(out)
    return out.text()


@require_GET
def metrics_view(request):
    if not allowed(request):
        return HttpResponseForbidden("Send the metrics bearer token or come from an allowed network.\n")
    return HttpResponse(render(), content_type=CONTENT_TYPE)
