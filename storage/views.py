from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def index(request):
    note = "This section is not built yet; its issue is open (see the README's status table)."
    return render(request, "section/pending.html", {"section": "Storage", "note": note})
