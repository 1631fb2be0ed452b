"""Compute v2.1 server metadata (/servers/{id}/metadata[/{key}]) over compute's metadata
service: its limits (keys and values up to 255 characters: 400; over 128 items: 403), the
role and lock checks, an instance event and the audit log."""

from compute.services import metadata as service
from openstack_api.base import OsError, body_of, reply
from openstack_api.compute import versioned
from openstack_api.servers import instance_of


def requested(request, key="metadata"):
    data = body_of(request)
    if key not in data:
        raise OsError(400, f"The request body needs a {key!r} object.")
    return service.validate(data[key])


@versioned
def metadata(request, server_id):
    """GET: all items; POST: merged into them; PUT: replaces them. Each answers the whole set."""
    instance = instance_of(request, server_id)
    if request.method == "GET":
        return reply({"metadata": instance.metadata})
    items = requested(request)
    if request.method == "POST":
        items = {**instance.metadata, **items}
    return reply({"metadata": service.set_metadata(request.user, instance, items, request=request)})


@versioned
def metadata_item(request, server_id, key):
    instance = instance_of(request, server_id)
    if request.method == "GET":
        if key not in instance.metadata:
            raise OsError(404, "Metadata item was not found")
        return reply({"meta": {key: instance.metadata[key]}})
    if request.method == "DELETE":
        if key not in instance.metadata:
            raise OsError(404, "Metadata item was not found")
        service.set_metadata(
            request.user, instance, {k: v for k, v in instance.metadata.items() if k != key}, request=request
        )
        return reply(None, status=204)
    item = requested(request, "meta")
    if len(item) != 1:
        raise OsError(400, "Request body contains too many items" if item else "Malformed request body")
    if key not in item:
        raise OsError(400, "Request body and URI mismatch")
    service.set_metadata(request.user, instance, {**instance.metadata, **item}, request=request)
    return reply({"meta": item})
