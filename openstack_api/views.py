"""The page that hands a signed-in user their clouds.yaml and openrc."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from openstack_api import clouds
from portal.models import Project

FILES = {"clouds.yaml": ("text/yaml", clouds.clouds_yaml), "openrc.sh": ("text/x-shellscript", clouds.openrc)}


@login_required
def client_config(request):
    projects = Project.objects.visible_to(request.user).order_by("name")
    chosen = projects.filter(pk=request.GET.get("project") or 0).first() or request.project or projects.first()
    project = chosen.name if chosen else ""
    base = request.build_absolute_uri("/")
    username = request.user.get_username()
    download = request.GET.get("download")
    if download in FILES:
        content_type, make = FILES[download]
        response = HttpResponse(make(base, username, project), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{download}"'
        return response
    context = {
        "projects": projects,
        "project": chosen,
        "clouds_yaml": clouds.clouds_yaml(base, username, project),
        "openrc": clouds.openrc(base, username, project),
        "auth_url": base + "openstack/identity/v3",
    }
    return render(request, "openstack_api/client_config.html", context)
