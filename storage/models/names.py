"""Name rules shared by pools, volumes and snapshots."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

NAME_MAX = 63
# Display names: never a path separator; '..' is refused separately below.
DISPLAY_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$", "Use 1-63 letters, digits, spaces, dots, dashes or underscores; no '/'."
)
# Names libvirt sees (pool names, volume file names): no spaces either.
LIBVIRT_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", "Use letters, digits, dots, dashes or underscores; no '/'."
)


def no_dot_dot(value):
    if ".." in value:
        raise ValidationError("A name cannot contain '..'.")
