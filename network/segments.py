"""Overlay networks' tunnel keys (segmentation IDs, Neutron's VNIs): the next free one, as the
services (a new network) and the OVN backend (a key another portal's switch already holds) both
need it: below both."""

from django.db.models import Max

from network.choices import TUNNEL_KEY_MAX, TUNNEL_KEY_MIN, SegmentType
from network.models import Network
from portal.errors import Conflict


def next_tunnel_key(segment_type, taken=()):
    """The next free tunnel key above every key in the database and in `taken` (the keys the
    backend's control plane already holds, e.g. another portal's switches on the same NB)."""
    top = TUNNEL_KEY_MAX[SegmentType.VXLAN if segment_type == SegmentType.VXLAN else SegmentType.GENEVE]
    taken = {key for key in taken if TUNNEL_KEY_MIN <= key <= top}
    highest = max(
        Network.objects.aggregate(top=Max("tunnel_key"))["top"] or TUNNEL_KEY_MIN - 1, TUNNEL_KEY_MIN - 1, *taken
    )
    if highest < top:
        return highest + 1
    used = taken | set(Network.objects.exclude(tunnel_key=None).values_list("tunnel_key", flat=True))
    for key in range(TUNNEL_KEY_MIN, top + 1):
        if key not in used:
            return key
    raise Conflict(f"All {top} tunnel keys are in use.")
