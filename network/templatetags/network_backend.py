"""{% backend_note %}: on every network page, what the control plane is when a user should know
(the embedded default's Northbound has no data plane; without OVN, half the pages refuse)."""

from django import template

from network import backends, embedded

register = template.Library()


@register.inclusion_tag("network/_backend_note.html")
def backend_note():
    backend = backends.configured()
    return {"backend": backend, "unavailable": embedded.unavailable}
