"""Key pairs: make a new one (its private half handed back once, never stored), import a
public key, delete. The pages call these; the API's serializer shares generate_key_pair."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ValidationError
from django.db import transaction

from compute.models import KeyPair
from portal import audit
from portal.choices import WRITE_ROLES
from portal.errors import NotPermitted

KEY_COMMENT = "nubes-generated"


def generate_key_pair():
    """(OpenSSH public key, OpenSSH PEM private key) of a new Ed25519 key."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return f"{public.decode()} {KEY_COMMENT}", private.decode()


def _check_writer(user, project):
    if not user.is_staff and project.role_of(user) not in WRITE_ROLES:
        raise NotPermitted("Readers cannot change key pairs.")


def create(user, project, *, name, public_key="", request=None):
    """A key pair in project: public_key imported, or a new key made when it is empty.
    Returns (key pair, private key or None); bad input is a ValidationError keyed by field."""
    _check_writer(user, project)
    private_key = None
    if not public_key.strip():
        public_key, private_key = generate_key_pair()
    key_pair = KeyPair(project=project, name=name, public_key=public_key)
    with transaction.atomic():
        if KeyPair.objects.filter(project=project, name=name).exists():
            raise ValidationError({"name": f"This project already has a key pair named {name}."})
        key_pair.full_clean()
        key_pair.save()
        audit.record(user, "keypair.create", key_pair, request=request, imported=private_key is None)
    return key_pair, private_key


def delete(user, key_pair, request=None):
    """Instances launched with it keep their key (it is in their seed); they just lose the link."""
    _check_writer(user, key_pair.project)
    with transaction.atomic():
        audit.record(user, "keypair.delete", key_pair, request=request)
        key_pair.delete()
