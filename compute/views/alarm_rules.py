"""Cloud admins keep alarm rules on pages (the API's /api/v1/alarm-rules/ holds the same rules):
a list on django-tables2, create, edit and delete (asked first)."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compute.forms import AlarmRuleForm
from compute.models import AlarmRule
from compute.views.tables import AlarmRuleFilter, AlarmRuleTable
from portal.tables import table_page


@staff_member_required
def alarm_rules(request):
    table, filterset = table_page(request, AlarmRuleTable, AlarmRuleFilter, AlarmRule.objects.select_related("project"))
    return render(request, "compute/alarm_rules.html", {"table": table, "filter": filterset})


@staff_member_required
def alarm_rule_form(request, pk=None):
    rule = get_object_or_404(AlarmRule, pk=pk) if pk is not None else None
    form = AlarmRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if rule is None:
            saved.created_by = request.user
        saved.save()
        messages.success(request, f"{'Saved' if rule else 'Created'} alarm rule {saved.name}.")
        return redirect("compute:alarm-rules")
    return render(request, "compute/alarm_rule_form.html", {"form": form, "rule": rule})


@staff_member_required
@require_POST
def alarm_rule_delete(request, pk):
    rule = get_object_or_404(AlarmRule, pk=pk)
    rule.delete()
    messages.success(request, f"Deleted alarm rule {rule.name} (its alarms with it).")
    return redirect("compute:alarm-rules")
