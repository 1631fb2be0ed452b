"""Key pair pages: list, create (the private key shown and offered for download once), import,
delete. Every change goes through compute.services.keypairs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compute.forms import KeyPairForm
from compute.models import KeyPair
from compute.services import keypairs as services
from compute.views.tables import KeyPairFilter, KeyPairTable
from portal.choices import WRITE_ROLES
from portal.errors import NotPermitted
from portal.tables import table_page


def _writable_project(request):
    project = request.project
    if project is None:
        raise Http404("No project chosen.")
    if project.role_of(request.user) not in WRITE_ROLES:
        raise PermissionDenied("Readers cannot change key pairs.")
    return project


@login_required
def keypairs(request):
    queryset = KeyPair.objects.visible_to(request.user).select_related("project").order_by("project__name", "name")
    table, filterset = table_page(request, KeyPairTable, KeyPairFilter, queryset)
    return render(request, "compute/keypairs.html", {"table": table, "filter": filterset})


@login_required
def keypair_create(request, imported=False):
    project = _writable_project(request)
    form = KeyPairForm(request.POST or None, imported=imported)
    if request.method == "POST" and form.is_valid():
        try:
            key_pair, private_key = services.create(request.user, project, request=request, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except NotPermitted as exc:
            raise PermissionDenied(str(exc)) from exc
        else:
            if private_key is None:
                messages.success(request, f"Imported key pair {key_pair.name}.")
                return redirect("compute:keypairs")
            # Rendered, not redirected: the private key lives in this one response only.
            response = render(
                request, "compute/keypair_created.html", {"key_pair": key_pair, "private_key": private_key}
            )
            response["Cache-Control"] = "no-store"
            return response
    context = {"form": form, "project": project, "imported": imported}
    return render(request, "compute/keypair_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def keypair_delete(request, pk):
    key_pair = get_object_or_404(KeyPair.objects.visible_to(request.user).select_related("project"), pk=pk)
    try:
        services.delete(request.user, key_pair, request)
    except NotPermitted as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"Deleted key pair {key_pair.name}.")
    return redirect("compute:keypairs")
