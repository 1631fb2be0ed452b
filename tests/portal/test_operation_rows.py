"""{% operation_row op %} writes what the row template it replaced (session 11) wrote, for cloud
admins and tenants (host paths redacted), with and without a requester, escaped."""

import pytest
from django.template import Context, Template

from portal.models import Operation

# templates/portal/_operation_row.html as it was, included once per row
TEMPLATE_ROW = Template(
    """{% load tenant_safe %}<tr data-operation="{{ op.pk }}">
  <td><a href="{% url 'operation-detail' op.pk %}">{{ op.pk }}</a></td>
  <td>{{ op.kind }}</td>
  <td>{{ op.target_name }}</td>
  <td><span class="status status-{{ op.status }}" data-field="status">{{ op.get_status_display }}</span></td>
  <td><progress max="100" value="{{ op.progress }}" data-field="progress"></progress></td>
  <td data-field="message">{% tenant_safe op.message %}</td>
  <td>{{ op.requester.username|default:"system" }}</td>
  <td>{{ op.created|date:"Y-m-d H:i:s" }}</td>
</tr>
"""
)
TAG_ROW = Template("{% load operation_rows %}{% operation_row op %}")


@pytest.fixture
def operations(project_a, alice):
    common = {"target_type": "compute.instance", "target_id": "1", "project": project_a}
    return [
        Operation.objects.create(
            kind="instance.create",
            target_name="web <1>",
            requester=alice,
            status="failed",
            progress=40,
            message='disk /var/lib/nubes/x.qcow2 on qemu+ssh://root@h1/system: "gone" & <b>',
            **common,
        ),
        Operation.objects.create(kind="instance.reboot", target_name="db", status="succeeded", progress=100, **common),
    ]


@pytest.mark.parametrize("viewer", ["admin_user", "alice", None])
def test_the_tag_writes_the_template_rows_html(operations, viewer, request):
    user = request.getfixturevalue(viewer) if viewer else None
    for op in operations:
        context = {"op": Operation.objects.select_related("requester").get(pk=op.pk), "user": user}
        assert TAG_ROW.render(Context(context)) == TEMPLATE_ROW.render(Context(context))
    html = TAG_ROW.render(Context({"op": operations[0], "user": user}))
    assert ("/var/lib/nubes" in html) == (viewer == "admin_user") and "&lt;b&gt;" in html
