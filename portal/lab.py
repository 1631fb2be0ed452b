"""Registering the lab (lab/state/lab.json, written by lab/up.sh) in the portal, the way an
admin would: each app registers its step from its ready() (compute: a cluster, both hosts, a
tiny flavor, the lab guest as a kernel-boot image; storage: the pools; network: the OVN
endpoints and a check of each chassis; catalog, when asked: the service guest image and its
PostgreSQL template). Safe to run twice."""

import json
from pathlib import Path

from django.conf import settings

LAB_JSON = Path(settings.BASE_DIR) / "lab" / "state" / "lab.json"
CLUSTER = "lab"
FLAVOR = "lab.tiny"
IMAGE = "lab-guest"
IMAGE_VOLUME = "lab-guest-root.qcow2"
SHARED_POOL = "nubes-shared"
GUEST_DISK_GB = 1

_steps = []


class LabNotUp(Exception):
    pass


def load(path=LAB_JSON):
    path = Path(path)
    if not path.exists():
        raise LabNotUp(f"{path} does not exist: run `make lab` (as root) first")
    return json.loads(path.read_text())


def vnc_tls_settings(lab):
    """The console proxy's NUBES_VNC_TLS_* settings for the lab's hosts (lab/vnc-tls.sh made the
    CA and the proxy's certificate under the lab's state dir), or {} for a lab without them."""
    pki = Path(lab["state_dir"]).resolve() / "vnc-pki"
    if not (pki / "proxy-cert.pem").exists():
        return {}
    return {
        "NUBES_VNC_TLS_CA": str(pki / "ca-cert.pem"),
        "NUBES_VNC_TLS_CERT": str(pki / "proxy-cert.pem"),
        "NUBES_VNC_TLS_KEY": str(pki / "proxy-key.pem"),
    }


def register_step(order, step):
    """step(user, lab, made, network_uris=...) registers an app's part and adds what it made to
    the dict `made`; steps run in `order` (lower first)."""
    _steps.append((order, step))


def register(user, lab, network_uris=False, provider_network=False, service_templates=False):
    """Returns what the steps registered: {"cluster", "hosts", "flavor", "image", "pools", "ovn", "chassis"}
    (and "provider_network", "service_template" when asked). network_uris: every host by its lab
    address (host A's qemu+tcp:// too), as a fleet whose workers run on other machines reaches them.
    provider_network: the lab's provider network as an external network (`make lab` asks).
    service_templates: the service guest (uploaded into the shared pool once, ~1 GiB) and its
    template (`manage.py lab_register` asks; the lab tests that need it too)."""
    made = {}
    for _order, step in sorted(_steps, key=lambda item: item[0]):
        step(
            user,
            lab,
            made,
            network_uris=network_uris,
            provider_network=provider_network,
            service_templates=service_templates,
        )
    return made
