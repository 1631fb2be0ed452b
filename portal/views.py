"""The platform's pages: sign-in, dashboard, project switcher, API tokens, operations."""

from datetime import timedelta

import django_filters
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.views import SpectacularSwaggerSplitView

from portal import operations, quotas
from portal.api.serializers import OperationSerializer
from portal.choices import OperationStatus
from portal.forms import RateLimitedLoginForm, TokenForm
from portal.models import ApiToken, Operation, Project
from portal.operations import TargetBusy
from portal.services import issue_token, revoke_token, start_recount
from portal.tables import OperationTable, filterset, table_page
from portal.ui import dashboard_cards

# the split view: its start-up script is a file of its own (?script), not inline (the CSP)
_swagger = SpectacularSwaggerSplitView.as_view(url_name="schema")


def api_docs(request):
    """The API docs page: behind sign-in unless NUBES_API_DOCS_PUBLIC (as the schema is)."""
    if not (settings.NUBES_API_DOCS_PUBLIC or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path())
    return _swagger(request)


class LoginView(auth_views.LoginView):
    form_class = RateLimitedLoginForm
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", "rate_limited"):
            response.status_code = 429
        return response


@login_required
def dashboard(request):
    project = request.project
    context = {
        "usage": quotas.usage(project) if project else {},
        "cards": dashboard_cards(request),
        "recent_operations": Operation.objects.visible_to(request.user).select_related("requester")[:10],
    }
    return render(request, "portal/dashboard.html", context)


@login_required
@require_POST
def switch_project(request):
    project = Project.objects.visible_to(request.user).filter(pk=request.POST.get("project")).first()
    if project is None:
        return HttpResponseBadRequest("Unknown project.")
    request.session["project_id"] = project.pk
    return redirect(request.POST.get("next") or "dashboard")


@login_required
def tokens(request):
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data.get("expires_in_days")
        expires = timezone.now() + timedelta(days=days or settings.NUBES_TOKEN_MAX_DAYS)
        _, plain = issue_token(request.user, form.cleaned_data["name"], expires, request)
        # Post/redirect/get: the token is shown on the next page view only, never again.
        request.session["new_token"] = plain
        return redirect("tokens")
    new_token = request.session.pop("new_token", None)
    context = {"form": form, "new_token": new_token, "tokens": ApiToken.objects.filter(user=request.user)}
    return render(request, "portal/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_token(token, request.user, request)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("tokens")


OperationFilter = filterset(
    Operation,
    OperationStatus.choices,
    "status",
    q=django_filters.CharFilter(field_name="target_name", lookup_expr="icontains", label="Target"),
    kind=django_filters.CharFilter(lookup_expr="icontains", label="Action"),
)


@login_required
def operation_list(request):
    queryset = Operation.objects.visible_to(request.user).select_related("requester", "project")
    table, filters = table_page(request, OperationTable, OperationFilter, queryset)
    return render(request, "portal/operations.html", {"table": table, "filter": filters})


@login_required
def operation_detail(request, pk):
    op = get_object_or_404(Operation.objects.visible_to(request.user), pk=pk)
    return render(
        request,
        "portal/operation_detail.html",
        {"op": op, "op_json": OperationSerializer(op, context={"request": request}).data},
    )


@login_required
@require_POST
def operation_cancel(request, pk):
    op = get_object_or_404(Operation.objects.visible_to(request.user), pk=pk)
    role = op.project.role_of(request.user) if op.project else ("admin" if request.user.is_staff else None)
    if role not in ("admin", "member"):
        messages.error(request, "Readers cannot cancel operations.")
    elif not operations.request_cancel(op):
        messages.error(request, "This operation cannot be cancelled now.")
    return redirect("operation-detail", pk=pk)


@login_required
@require_POST
def recount_usage(request):
    """Recount the current project's quota usage, as an Operation the page follows live."""
    project = request.project
    if project is None or project.role_of(request.user) not in ("admin", "member"):
        return HttpResponseBadRequest("Only members of the project may recount its usage.")
    try:
        op = start_recount(project, request.user)
    except TargetBusy as exc:
        messages.error(request, str(exc))
        return redirect("dashboard")
    if request.htmx:
        return HttpResponse(status=204, headers={"X-Operation": str(op.pk)})
    return redirect("operation-detail", pk=op.pk)
