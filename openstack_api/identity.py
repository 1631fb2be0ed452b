"""Identity v3 (Keystone): tokens by password, application credential (a Nubes API token) or
token, always scoped to one project of the user in domain Default; validate and revoke; the
user's projects."""

from django.contrib.auth import authenticate, get_user_model
from django.utils import timezone

from openstack_api.base import OsError, body_of, iso_micro, link, reply, token_of
from openstack_api.catalog import base_url, catalog
from openstack_api.models import KeystoneToken
from portal import audit, ratelimit
from portal.api.authentication import parse_token
from portal.choices import Outcome, Role
from portal.models import ApiToken, Project

DOMAIN = {"id": "default", "name": "Default"}
DOMAIN_NAMES = ("default", "Default")
# Keystone role names implied by each Nubes role (admin implies member implies reader).
ROLE_NAMES = {Role.ADMIN: ("admin", "member", "reader"), Role.MEMBER: ("member", "reader"), Role.READER: ("reader",)}
VERSION = {
    "id": "v3.14",
    "status": "stable",
    "updated": "2020-04-07T00:00:00Z",
    "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
}


def version_entry(request):
    return {**VERSION, "links": [{"rel": "self", "href": base_url(request) + "identity/v3/"}]}


def versions(request):
    return reply({"versions": {"values": [version_entry(request)]}}, status=300)


def version(request):
    return reply({"version": version_entry(request)})


# --- issuing ---------------------------------------------------------------------------------


def _check_domain(obj, what):
    domain = obj.get("domain") or {}
    if domain and domain.get("id") not in (None, "default") and domain.get("name") not in (None, *DOMAIN_NAMES):
        raise OsError(401, f"The {what} is not in domain Default (Nubes has one domain).")


def _password_user(request, identity):
    password = identity.get("password") or {}
    user_ref = password.get("user") or {}
    _check_domain(user_ref, "user")
    users = get_user_model().objects
    if user_ref.get("id"):
        found = users.filter(pk=user_ref["id"]).first() if str(user_ref["id"]).isdigit() else None
        username = found.get_username() if found else str(user_ref["id"])
    else:
        username = user_ref.get("name") or ""
    ip = audit.client_ip(request)
    if ratelimit.blocked(ip, username):
        raise OsError(401, "Too many failed attempts; try again later.")
    user = authenticate(request, username=username, password=user_ref.get("password") or "")
    if user is None:
        ratelimit.note_failure(ip, username)
        audit.record(None, "openstack.token.issue", request=request, outcome=Outcome.DENIED, username=username[:150])
        raise OsError(401, "The request you have made requires authentication.")
    ratelimit.clear(ip, username)
    return user, None


def _application_credential(identity):
    credential = identity.get("application_credential") or {}
    key_id, secret = str(credential.get("id") or ""), str(credential.get("secret") or "")
    parsed = parse_token(secret)
    if parsed is not None:  # the whole Nubes token given as the secret
        key_id, secret = key_id or parsed[0], parsed[1] if parsed[0] == (key_id or parsed[0]) else ""
    api_token = ApiToken.objects.select_related("user").filter(key_id=key_id).first() if key_id else None
    if api_token is None or not api_token.matches(secret) or not api_token.is_usable or not api_token.user.is_active:
        raise OsError(401, "Invalid application credential.")
    return api_token.user, api_token


def _default_project(user):
    """Keystone scopes an unscoped request to the user's default project: here the first of
    theirs by name in which they may change things, else the first they may read."""
    writable = Project.objects.writable_by(user).order_by("name").first()
    return writable or Project.objects.visible_to(user).order_by("name").first()


def _scope(user, scope):
    if not scope:
        project = _default_project(user)
        if project is None:
            raise OsError(401, "The user is a member of no project.")
        return project
    if "project" not in scope:
        raise OsError(501, "Nubes issues project-scoped tokens only (no domain or system scope).")
    ref = scope["project"] or {}
    _check_domain(ref, "project")
    projects = Project.objects.visible_to(user)
    if ref.get("id"):
        ident = str(ref["id"])
        project = projects.filter(pk=ident).first() if ident.isdigit() else None
    else:
        project = projects.filter(name=ref.get("name") or "").first()
    if project is None:
        raise OsError(401, f"User {user.get_username()} has no access to project {ref.get('id') or ref.get('name')}.")
    return project


def issue(request):
    auth = body_of(request, "auth")
    identity = auth.get("identity") or {}
    methods = identity.get("methods") or []
    api_token = None
    if methods == ["password"]:
        user, _ = _password_user(request, identity)
    elif methods == ["application_credential"]:
        user, api_token = _application_credential(identity)
    elif methods == ["token"]:
        old = KeystoneToken.lookup((identity.get("token") or {}).get("id"))
        if old is None:
            raise OsError(401, "The token is invalid or expired.")
        user, api_token = old.user, old.api_token
    else:
        raise OsError(401, "Nubes authenticates with one of the methods password, application_credential or token.")
    scope = auth.get("scope")
    if scope == "unscoped":
        scope = None
    project = _scope(user, scope)
    method = methods[0]
    token, plain = KeystoneToken.issue(user, project, method, api_token=api_token)
    audit.record(user, "openstack.token.issue", project, request=request, method=method)
    return reply(token_body(request, token), status=201, headers={"X-Subject-Token": plain})


def token_body(request, token):
    user, project = token.user, token.project
    role = project.role_of(user)
    body = {
        "methods": [token.method],
        "user": {"id": str(user.pk), "name": user.get_username(), "domain": DOMAIN, "password_expires_at": None},
        "audit_ids": [token.audit_id],
        "expires_at": iso_micro(token.expires) + "Z",
        "issued_at": iso_micro(token.issued) + "Z",
        "project": {"id": str(project.pk), "name": project.name, "domain": DOMAIN},
        "is_domain": False,
        "roles": [{"id": name, "name": name} for name in ROLE_NAMES.get(role, ())],
        "catalog": catalog(request),
    }
    if token.api_token is not None:
        body["application_credential"] = {
            "id": token.api_token.key_id,
            "name": token.api_token.name,
            "restricted": True,
        }
    return {"token": body}


# --- validating, revoking --------------------------------------------------------------------


def _subject(request):
    subject = KeystoneToken.lookup(request.headers.get("X-Subject-Token", ""))
    if subject is None:
        raise OsError(404, "Could not find token.")
    if subject.user_id != request.user.pk and not request.user.is_staff:
        raise OsError(403, "You may validate or revoke only your own tokens.")
    return subject


def validate(request):
    subject = _subject(request)
    headers = {"X-Subject-Token": request.headers["X-Subject-Token"]}
    if request.method == "HEAD":
        return reply(None, status=200, headers=headers)
    return reply(token_body(request, subject), headers=headers)


def revoke(request):
    subject = _subject(request)
    KeystoneToken.objects.filter(pk=subject.pk).update(revoked=timezone.now())
    audit.record(request.user, "openstack.token.revoke", subject.project, request=request)
    return reply(None, status=204)


def tokens(request):
    """POST issues without a token; GET / HEAD / DELETE need one."""
    if request.method == "POST":
        return issue(request)
    token = token_of(request)
    if token is None:
        raise OsError(401, "The request you have made requires authentication.")
    request.os_token, request.user, request.os_project = token, token.user, token.project
    if request.method in ("GET", "HEAD"):
        return validate(request)
    if request.method == "DELETE":
        return revoke(request)
    raise OsError(405, f"{request.method} is not allowed on tokens.")


# --- projects and users ------------------------------------------------------------------------


def project_body(request, project):
    return {
        "id": str(project.pk),
        "name": project.name,
        "description": project.description,
        "domain_id": "default",
        "enabled": True,
        "is_domain": False,
        "parent_id": "default",
        "tags": [],
        "options": {},
        "links": {"self": link(request, f"/openstack/identity/v3/projects/{project.pk}")},
    }


def _projects(request, projects):
    return reply(
        {
            "projects": [project_body(request, p) for p in projects.order_by("name")],
            "links": {"self": link(request, request.path), "previous": None, "next": None},
        }
    )


def auth_projects(request):
    return _projects(request, Project.objects.visible_to(request.user))


def project_list(request):
    """Cloud admins see every project, others their own (Keystone's list is admin-only)."""
    projects = Project.objects.visible_to(request.user)
    if request.GET.get("name"):
        projects = projects.filter(name=request.GET["name"])
    return _projects(request, projects)


def project_show(request, project_id):
    project = Project.objects.visible_to(request.user).filter(pk=project_id).first() if project_id.isdigit() else None
    if project is None:
        raise OsError(404, f"Could not find project: {project_id}.")
    return reply({"project": project_body(request, project)})


def _own_user(request, user_id):
    if user_id != str(request.user.pk) and not request.user.is_staff:
        raise OsError(403, "You may see only your own user.")
    user = get_user_model().objects.filter(pk=user_id).first() if user_id.isdigit() else None
    if user is None:
        raise OsError(404, f"Could not find user: {user_id}.")
    return user


def user_projects(request, user_id):
    return _projects(request, Project.objects.visible_to(_own_user(request, user_id)))


def user_show(request, user_id):
    user = _own_user(request, user_id)
    body = {
        "id": str(user.pk),
        "name": user.get_username(),
        "domain_id": "default",
        "enabled": user.is_active,
        "email": user.email,
        "password_expires_at": None,
        "options": {},
        "links": {"self": link(request, f"/openstack/identity/v3/users/{user.pk}")},
    }
    return reply({"user": body})


def catalog_view(request):
    return reply({"catalog": catalog(request), "links": {"self": link(request, request.path)}})
