from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def instances(request):
    note = "Instances are not built yet; the compute issue is open."
    return render(request, "section/pending.html", {"section": "Compute", "note": note})


@login_required
def hosts(request):
    note = "Hosts are not built yet; the compute issue is open."
    return render(request, "section/pending.html", {"section": "Hosts", "note": note})
