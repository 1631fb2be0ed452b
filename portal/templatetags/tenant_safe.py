"""{% tenant_safe text %}: host URIs and paths replaced unless the page's user is a cloud admin.
A tag, not a filter, so that fragments rendered without a user (live updates) are redacted too."""

from django import template

from portal.redact import redact, sees_hosts

register = template.Library()


@register.simple_tag(takes_context=True)
def tenant_safe(context, text):
    user = context.get("user")
    if user is None and context.get("request") is not None:
        user = getattr(context["request"], "user", None)
    if user is None and context.get("staff"):
        return text  # fragments that say who is looking by a staff flag (the migration panel)
    return text if sees_hosts(user) else redact(text)
