"""cloud-init's NoCloud seed: an ISO 9660 image labelled ``cidata`` holding ``meta-data`` and
``user-data`` (and, when given, ``network-config``), made with pycdlib. Pure Python, no libvirt.

The key pair goes into meta-data's ``public-keys`` (NoCloud reads it like the EC2 datasource);
the user's user data goes into user-data unchanged. Without user data the seed carries an
empty ``#cloud-config`` so cloud-init still finds a valid document.
"""

import hashlib
import io
import json
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import pycdlib

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
LOCAL_URIS = ("qemu:///system", "qemu:///session")


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


def seed_path(root_path, domain_name):
    """The seed sits next to the root disk."""
    return os.path.join(os.path.dirname(root_path), f"{domain_name}{SEED_SUFFIX}")


def is_local(uri):
    """A host whose files the portal can write: the libvirtd of this machine."""
    return uri in LOCAL_URIS or urlsplit(uri).scheme == "qemu" and not urlsplit(uri).netloc


def write_seed(path, data):
    """Write the image (readable by QEMU, which runs as another user); returns the path."""
    tmp = f"{path}.part"
    with open(tmp, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def place_seed(instance, root_path):
    """Build the instance's seed and put it next to its root disk; record it on the instance.

    Simulated hosts have no disk to write to: the image is built (so a bad seed fails the
    same way) and recorded, nothing is written. Returns the Seed, or None when none is wanted.
    """
    if not wanted(instance):
        return None
    seed = build_seed(instance)
    path = seed_path(root_path, instance.domain_name)
    host = instance.host
    if not host.simulated:
        if not is_local(host.uri):
            raise ActionError(
                f"Cannot deliver cloud-init data to {host.name}: writing a seed image to a remote "
                "host needs a volume upload in the hypervisor gateway (not there yet)."
            )
        write_seed(path, seed.data)
    instance.seed_path, instance.seed_sha256 = path, seed.sha256
    instance.save(update_fields=["seed_path", "seed_sha256"])
    return seed


def remove_seed(path):
    """Remove a seed file; True if one was there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
