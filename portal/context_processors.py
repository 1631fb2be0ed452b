from portal.models import Project


def nubes(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    project = getattr(request, "project", None)
    return {
        "projects": Project.objects.visible_to(user),
        "current_project": project,
        "current_role": project.role_of(user) if project else None,
    }
