"""cloud-init's NoCloud seed: an ISO 9660 image labelled ``cidata`` holding ``meta-data`` and
``user-data`` (and, when given, ``network-config``), made with pycdlib, and delivered to the
host as a volume over the libvirt connection (hypervisor.volume_create_from_bytes).

The key pair goes into meta-data's ``public-keys`` (NoCloud reads it like the EC2 datasource);
the user's user data goes into user-data unchanged. Without user data the seed carries an
empty ``#cloud-config`` so cloud-init still finds a valid document.
"""

import hashlib
import io
import json
import os
from dataclasses import dataclass

import pycdlib

import hypervisor as hv
from portal.errors import ActionError

VOLUME_LABEL = "cidata"  # cloud-init finds the NoCloud seed by this label
META_DATA = "meta-data"
USER_DATA = "user-data"
NETWORK_CONFIG = "network-config"
EMPTY_USER_DATA = "#cloud-config\n{}\n"
SEED_SUFFIX = "-seed.iso"
ISO_INTERCHANGE_LEVEL = 3  # file names beyond 8.3 are carried by Joliet and Rock Ridge anyway
ROCK_RIDGE = "1.09"
JOLIET = 3
ISO_NAMES = {META_DATA: "/METADATA.;1", USER_DATA: "/USERDATA.;1", NETWORK_CONFIG: "/NETCONF.;1"}


@dataclass(frozen=True)
class Seed:
    data: bytes
    sha256: str
    files: tuple[str, ...]


def meta_data(instance_uuid, hostname, public_keys=()):
    """meta-data as JSON (a subset of YAML, so no YAML escaping to get wrong)."""
    document = {"instance-id": f"iid-{instance_uuid}", "local-hostname": hostname}
    if public_keys:
        document["public-keys"] = list(public_keys)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def hostname_of(name, fallback):
    """A DNS label from an instance name: lowercase letters, digits and dashes, or the fallback."""
    label = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in label:
        label = label.replace("--", "-")
    return label[:63].strip("-") or fallback


def seed_files(instance):
    """{file name: bytes} of an instance's seed (its key pair and user data)."""
    keys = (instance.key_pair.public_key,) if instance.key_pair_id else ()
    hostname = hostname_of(instance.name, f"instance-{instance.pk}")
    return {
        META_DATA: meta_data(instance.uuid, hostname, keys).encode(),
        USER_DATA: (instance.user_data or EMPTY_USER_DATA).encode(),
    }


def build_iso(files):
    """ISO 9660 bytes (Joliet + Rock Ridge, label ``cidata``) holding ``files``."""
    unknown = set(files) - set(ISO_NAMES)
    if unknown:
        raise ValueError(f"a NoCloud seed holds only {', '.join(ISO_NAMES)}; got {', '.join(sorted(unknown))}")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=ISO_INTERCHANGE_LEVEL, vol_ident=VOLUME_LABEL, joliet=JOLIET, rock_ridge=ROCK_RIDGE)
    for name in sorted(files):
        data = files[name]
        iso.add_fp(io.BytesIO(data), len(data), ISO_NAMES[name], rr_name=name, joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_iso(data):
    """(volume label, {file name: bytes}) of a seed image, read back through its Joliet names."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        label = iso.pvd.volume_identifier.decode().strip()
        files = {}
        for child in iso.list_children(joliet_path="/"):
            name = child.file_identifier().decode("utf-16-be")
            if name in (".", "..") or child.is_dir():
                continue
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            files[name] = out.getvalue()
    finally:
        iso.close()
    return label, files


def build_seed(instance):
    files = seed_files(instance)
    data = build_iso(files)
    return Seed(data=data, sha256=hashlib.sha256(data).hexdigest(), files=tuple(sorted(files)))


def wanted(instance):
    """A seed is made when there is something to deliver: a key pair or user data."""
    return bool(instance.key_pair_id or instance.user_data)


def seed_volume(domain_name):
    """The seed's volume name, in the pool of the root disk."""
    return f"{domain_name}{SEED_SUFFIX}"


def seed_path(root_path, domain_name):
    """Where the seed's volume lands: next to the root disk (same pool directory)."""
    return os.path.join(os.path.dirname(root_path), seed_volume(domain_name))


def place_seed(instance, pool):
    """Build the instance's seed and deliver it as a raw volume in ``pool`` (its root disk's)
    over the libvirt connection: created, then uploaded with virStorageVolUpload, so a remote
    host gets it like a local one. Recorded on the instance. Returns the Seed, or None when none
    is wanted. A failed delivery leaves no volume (or says it could not remove it)."""
    if not wanted(instance):
        return None
    seed = build_seed(instance)
    host = instance.host
    try:
        made = hv.volume_create_from_bytes(host.uri, pool, seed_volume(instance.domain_name), seed.data)
    except hv.HypervisorError as exc:
        raise ActionError(f"Cannot deliver cloud-init data to {host.name}: {exc}") from exc
    instance.seed_path, instance.seed_sha256 = made.volume.path, seed.sha256
    instance.save(update_fields=["seed_path", "seed_sha256"])
    return seed


def remove_seed(host, path):
    """Remove a seed volume by its path, in whichever pool holds it now; True if one was there."""
    try:
        hv.volume_delete_path(host.uri, path)
    except hv.VolumeNotFound:
        return False
    return True
