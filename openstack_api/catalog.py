"""The service catalog a token carries: one public endpoint per service, on the portal's own
address (as the client reached it), in the configured region."""

from openstack_api import settings as os_settings

SERVICES = (
    # (type, name, path under /openstack/)
    ("identity", "keystone", "identity/v3"),
    ("compute", "nova", "compute/v2.1"),
    ("image", "glance", "image"),
    ("network", "neutron", "network"),
    ("volumev3", "cinderv3", "volume/v3"),
)


def base_url(request):
    return request.build_absolute_uri("/openstack/")


def catalog(request):
    base, region = base_url(request), os_settings.region()
    return [
        {
            "id": f"{name}-service",
            "type": kind,
            "name": name,
            "endpoints": [
                {
                    "id": f"{name}-public",
                    "interface": "public",
                    "region": region,
                    "region_id": region,
                    "url": base + path,
                }
            ],
        }
        for kind, name, path in SERVICES
    ]
