"""Secrets at rest (BMC passwords): Fernet with a key derived from SECRET_KEY.

A separate derivation label from compute's, so one leaked key does not open the other's
secrets. If SECRET_KEY changes, stored passwords no longer decrypt and must be set again.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

KEY_LABEL = "nubes-scheduler-power"


def _fernet():
    key = hashlib.sha256(f"{KEY_LABEL}:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain):
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token):
    """The plain text, or None when there is none or it was encrypted under another key."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
