"""The one rule for the names of every resource, in serializers and forms alike: printable
text, no bidirectional controls (which make a name display as something else), not empty."""

from django import forms
from django.core.exceptions import ValidationError

# LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def validate_name(value):
    if not value or not value.strip():
        raise ValidationError("A name cannot be empty.", code="blank")
    if any(char in BIDI_CONTROLS for char in value):
        raise ValidationError("A name cannot hold bidirectional control characters.", code="bidi")
    if not value.isprintable():
        raise ValidationError("A name holds printable characters only (no control characters).", code="control")


def validate_optional_name(value):
    if value:
        validate_name(value)


class NameField(forms.CharField):
    """A form's name field with the shared rule (empty allowed only when not required)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(validate_name)
