from django.utils.functional import SimpleLazyObject

from portal.models import Project


def nubes(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    project = getattr(request, "project", None)
    # Pages show write controls only where these allow (readers see none); the services still check.
    writable = SimpleLazyObject(lambda: set(Project.objects.writable_by(user).values_list("pk", flat=True)))
    return {
        "projects": Project.objects.visible_to(user),
        "current_project": project,
        "current_role": project.role_of(user) if project else None,
        "writable_project_ids": writable,
        "can_write": SimpleLazyObject(lambda: project is not None and project.pk in writable),
    }
