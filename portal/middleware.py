"""The project the UI works in, chosen with the switcher and kept in the session."""

from portal.models import Project


class CurrentProjectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.project = None
        if request.user.is_authenticated:
            projects = Project.objects.visible_to(request.user)
            chosen = request.session.get("project_id")
            request.project = projects.filter(pk=chosen).first() if chosen else None
            if request.project is None:
                request.project = projects.first()
                if request.project:
                    request.session["project_id"] = request.project.pk
        return self.get_response(request)
