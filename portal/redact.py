"""What tenants never read: hosts' URIs and file paths on hosts or on the portal's machine.
Cloud admins see everything; for everyone else such text is replaced in messages and errors
(libvirt's own messages name both)."""

import re

URI = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)
# an absolute path: a slash not inside a word, an address (10.0.0.0/24, fd00::/64) or a URI
PATH = re.compile(r"(?<![\w.:/~\]])/[\w.@+~-]+(?:/[\w.@+~-]*)*")
HIDDEN_URI = "<host>"
HIDDEN_PATH = "<path>"


def redact(text):
    if not isinstance(text, str) or not text:
        return text
    return PATH.sub(HIDDEN_PATH, URI.sub(HIDDEN_URI, text))


def redact_tree(value):
    """redact() through the strings of a JSON-like value (an Operation's detail)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_tree(item) for item in value]
    return value


def sees_hosts(user):
    """Cloud admins; anyone else (no user at all included) sees redacted text."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False))
