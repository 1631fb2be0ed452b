"""What an object looks like on a websocket: the API's representation, registered by the app
that owns the serializer (from its wiring), so the tasks and services that publish a change do
not import the API layer."""

_serializers = {}


def register(model, serializer_class):
    _serializers[model] = serializer_class


def present(obj):
    """The registered serializer's data for `obj` (as the REST API shows it, without a request)."""
    return _serializers[type(obj)](obj).data
