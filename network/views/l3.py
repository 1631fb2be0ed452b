"""The router and floating IP pages: a router's interfaces and gateway, a floating IP's port.
They read the database only; each form calls one service verb."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from network import forms
from network.models import FloatingIP, Router
from network.views.resources import RESOURCES, may_change, require_change, saved, visible_or_404


@dataclass(frozen=True)
class ObjectPage:
    model: type
    related: tuple
    template: str
    url_name: str
    forms: dict  # action slug -> (form class, what the success message says)


ROUTER = ObjectPage(
    Router,
    ("external_network", "gateway_port"),
    "network/router.html",
    "network:router",
    {
        "add-interface": (forms.AddInterfaceForm, "Interface being added."),
        "remove-interface": (forms.RemoveInterfaceForm, "Interface being removed."),
        "gateway": (forms.GatewayForm, "Gateway being changed."),
        "snat": (forms.SnatForm, "SNAT being changed."),
        "add-route": (forms.AddRouteForm, "Static route being added."),
        "remove-route": (forms.RemoveRouteForm, "Static route being removed."),
    },
)
FLOATING_IP = ObjectPage(
    FloatingIP,
    ("allocation", "network", "port", "router"),
    "network/floating_ip.html",
    "network:floating-ip",
    {
        "associate": (forms.AssociateForm, "Floating IP being associated."),
        "disassociate": (forms.DisassociateForm, "Floating IP being disassociated."),
    },
)


def _render(request, page, obj, bound=None):
    """The object's page with one empty form per action, `bound` (a refused one) in its place."""
    context = {"obj": obj, "resources": RESOURCES, "may_change": may_change(request.user, obj)}
    for action, (form_class, _) in page.forms.items():
        own = bound is not None and type(bound) is form_class
        context[action.replace("-", "_") + "_form"] = bound if own else form_class(obj=obj)
    return render(request, page.template, context, status=400 if bound is not None else 200)


@login_required
def detail(request, pk, page):
    return _render(request, page, visible_or_404(page.model, request.user, pk, *page.related))


@login_required
@require_POST
def act(request, pk, action, page):
    obj = visible_or_404(page.model, request.user, pk, *page.related)
    if action not in page.forms:
        raise Http404("No such action.")
    require_change(request.user, obj)
    form_class, done = page.forms[action]
    form = form_class(request.POST, obj=obj)
    if saved(request, form):
        messages.success(request, done)
        return redirect(page.url_name, pk=obj.pk)
    # a refused verb may have set fields on `obj`; the page shows what the database holds
    return _render(request, page, visible_or_404(page.model, request.user, pk, *page.related), bound=form)
