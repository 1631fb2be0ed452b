"""Action arguments (passwords among them) sealed for the trip through the broker and the
Operation's stored task arguments (kept there so a lost task can be sent again): Fernet under a
key derived from SECRET_KEY with a label of the catalog's own."""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from portal.errors import ActionError

KEY_LABEL = "nubes-catalog-action-arguments"


def _box():
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"{KEY_LABEL}:{settings.SECRET_KEY}".encode()).digest()))


def seal(arguments: dict) -> str:
    return _box().encrypt(json.dumps(arguments).encode()).decode()


def unseal(token: str) -> dict:
    try:
        return json.loads(_box().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ActionError("The action's arguments cannot be read (SECRET_KEY changed?); run it again.") from exc
