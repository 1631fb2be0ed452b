"""The topology drawing: networks as horizontal bars, routers above the networks they join,
instances (and free ports) below their network, floating IPs beside their instance. Plain
coordinates for a server-rendered SVG."""

from network.choices import DeviceOwner, State
from network.models import FloatingIP, Network, Port, Router

ROW_H, TOP, LEFT, BAR_W, NODE_GAP = 110, 70, 170, 760, 120
ROUTER_X = 60


def build(user, project=None):
    networks = list(Network.objects.visible_to(user).exclude(state=State.DELETING).order_by("external", "id"))
    if project is not None:
        networks = [n for n in networks if n.project_id == project.pk or n.external or n.shared]
    rows = {n.pk: TOP + i * ROW_H for i, n in enumerate(networks)}
    bars = [
        {
            "id": n.pk,
            "name": n.name or str(n.uuid)[:8],
            "y": rows[n.pk],
            "x": LEFT,
            "w": BAR_W,
            "external": n.external,
            "state": n.state,
            "label": f"{n.get_segment_type_display()} · {n.backend}",
            "cidrs": ", ".join(s.cidr for s in n.subnets.all()),
        }
        for n in networks
    ]
    ports = Port.objects.filter(network_id__in=rows).select_related("instance").prefetch_related("ip_allocations")
    fips = {f.port_id: f for f in FloatingIP.objects.filter(port__in=ports).select_related("allocation")}
    nodes, links, counts = [], [], {}
    for port in ports:
        if port.device_owner in (DeviceOwner.ROUTER_INTERFACE, DeviceOwner.ROUTER_GATEWAY):
            continue
        index = counts[port.network_id] = counts.get(port.network_id, 0) + 1
        x, y = LEFT + index * NODE_GAP, rows[port.network_id] + ROW_H // 2
        label = port.instance.name if port.instance_id else (port.name or "port")
        fip = fips.get(port.pk)
        nodes.append(
            {
                "x": x,
                "y": y,
                "kind": "instance" if port.instance_id else "port",
                "label": label,
                "address": ", ".join(a.address for a in port.ip_allocations.all()),
                "status": port.status,
                "fip": fip.allocation.address if fip else "",
            }
        )
        links.append({"x1": x, "y1": rows[port.network_id], "x2": x, "y2": y - 12})
    routers = []
    for i, router in enumerate(Router.objects.visible_to(user).prefetch_related("interfaces__subnet")):
        joined = [i.subnet.network_id for i in router.interfaces.all()]
        if router.external_network_id:
            joined.append(router.external_network_id)
        joined = [pk for pk in joined if pk in rows]
        if not joined:
            continue
        y = sum(rows[pk] for pk in joined) // len(joined) + (i % 2) * 20
        routers.append({"x": ROUTER_X, "y": y, "name": router.name, "state": router.state})
        links.extend({"x1": ROUTER_X + 30, "y1": y, "x2": LEFT, "y2": rows[pk]} for pk in joined)
    height = TOP + max(1, len(networks)) * ROW_H + 20
    return {
        "bars": bars,
        "nodes": nodes,
        "links": links,
        "routers": routers,
        "height": height,
        "width": LEFT + BAR_W + 40,
    }
