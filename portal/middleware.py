"""The project the UI works in, chosen with the switcher and kept in the session; the security
headers Django does not send itself."""

from django.conf import settings

from portal.models import Project

# The native API names its projects in each request: its requests (a token client's, that may
# send a session cookie too) read neither the session nor the user's projects here, which cost
# three queries of every API read's five or six.
NO_PROJECT_PREFIXES = ("/api/v1/",)


class CurrentProjectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.project = None
        if request.path_info.startswith(NO_PROJECT_PREFIXES):
            return self.get_response(request)
        if request.user.is_authenticated:
            projects = Project.objects.visible_to(request.user)
            chosen = request.session.get("project_id")
            request.project = projects.filter(pk=chosen).first() if chosen else None
            if request.project is None:
                request.project = projects.first()
                if request.project:
                    request.session["project_id"] = request.project.pk
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every answer (Django 5.2 has neither;
    SecurityMiddleware sends HSTS, nosniff, Referrer-Policy and COOP, XFrameOptionsMiddleware DENY)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
