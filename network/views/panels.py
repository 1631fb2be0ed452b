"""network's card on an instance's page (compute.hooks.register_instance_panel): its ports, each
with its network, MAC, fixed and floating addresses, security groups and link status."""

from django.template.loader import render_to_string

from network.models import FloatingIP, Port


def instance_ports_panel(request, instance):
    ports = (
        Port.objects.visible_to(request.user)
        .filter(instance=instance)
        .select_related("network")
        .prefetch_related("ip_allocations", "security_groups")
        .order_by("pk")
    )
    floating = {}
    if ports:  # a floating IP sits on a port: none to look for without one
        # In their order (a port's are its project's: the model's project-name order, unjoined).
        addresses = FloatingIP.objects.filter(port__instance=instance).values_list("port_id", "allocation__address")
        for port_id, address in addresses.order_by("pk"):
            floating.setdefault(port_id, []).append(address)
    rows = [(port, floating.get(port.pk, ())) for port in ports]
    return render_to_string("network/_instance_ports.html", {"rows": rows}, request=request)
