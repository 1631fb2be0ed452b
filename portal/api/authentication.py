"""REST clients authenticate with personal tokens: `Authorization: Bearer nubes_<id>_<secret>`."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from portal.models import ApiToken
from portal.models.tokens import TOKEN_PREFIX

KEYWORDS = ("bearer", "token")
LAST_USED_GRANULARITY_S = 60


def parse_token(raw):
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        parsed = parse_token(header[1].decode(errors="replace"))
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed API token.")
        key_id, secret = parsed
        token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
        if token is None or not token.matches(secret):
            raise exceptions.AuthenticationFailed("Invalid API token.")
        if not token.is_usable:
            raise exceptions.AuthenticationFailed("API token expired or revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive.")
        now = timezone.now()
        if token.last_used is None or (now - token.last_used).total_seconds() > LAST_USED_GRANULARITY_S:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
