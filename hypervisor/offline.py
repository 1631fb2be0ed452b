"""Offline changes to a chain of qcow2 files (no domain uses them).

libvirt merges a chain only through a running domain's block job. On a host on this machine
(``qemu:///system``, ``qemu:///session``) a detached volume (or one of a stopped instance) is
merged with ``qemu-img commit`` / ``qemu-img rebase`` run here, and a chain is copied layer by
layer (``cp --sparse`` then an unsafe rebase onto the copies, which only rewrites the header
because the new backing file holds the same data). On a remote host Nubes runs no commands:
the same three changes are block jobs of a paused helper domain (offline_domain.py).
``image_info`` / ``backing_chain`` read files here, so local hosts only. Test hosts hold no
data: callers simulate these changes instead. Nothing here may run while a domain uses the
files (the callers check that; QEMU's image locks refuse it on remote hosts too).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from . import offline_domain
from .connection import is_local, is_simulated
from .errors import InvalidConfig, NotSupported, OperationFailed

QEMU_IMG = "qemu-img"
CP = "cp"
TIMEOUT_S = 6 * 3600  # a commit of a large layer may take long; a hung tool must still end
QCOW2 = "qcow2"


@dataclass(frozen=True)
class ImageInfo:
    path: str
    format: str
    virtual_size: int
    actual_size: int
    backing_path: str | None


def offline_how(uri: str, verb: str) -> str:
    """How an offline ``verb`` (commit, rebase, copy) is made on the host, for messages."""
    return f"offline qemu-img {verb}" if is_local(uri) else f"offline {verb} in a paused helper domain"


def _check(uri: str, *paths: str, remote_ok: bool = False) -> None:
    if is_simulated(uri):
        raise NotSupported("a simulated host has no files to change", uri=uri)
    if not is_local(uri) and not remote_ok:
        raise NotSupported(
            "qemu-img reads the files on the portal's own machine; on a remote host offline chain "
            "changes are libvirt block jobs of a paused helper domain",
            uri=uri,
        )
    for path in paths:
        if not path or not os.path.isabs(path) or ".." in path.split("/"):
            raise InvalidConfig(f"not an absolute file path: {path!r}")


def _run(uri: str, *args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationFailed(f"{args[0]} failed: {exc}", uri=uri) from exc
    if done.returncode != 0:
        raise OperationFailed(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}", uri=uri)
    return done.stdout


def image_info(uri: str, path: str) -> ImageInfo:
    """What qemu-img reads in the file's header (-U: also while a guest has it open)."""
    _check(uri, path)
    data = json.loads(_run(uri, QEMU_IMG, "info", "-U", "--output=json", path))
    return ImageInfo(
        path=path,
        format=data.get("format", ""),
        virtual_size=int(data.get("virtual-size", 0)),
        actual_size=int(data.get("actual-size", 0)),
        backing_path=data.get("full-backing-filename") or data.get("backing-filename"),
    )


def backing_chain(uri: str, path: str) -> tuple[str, ...]:
    """[path, its backing file, ...] as qemu-img follows it."""
    _check(uri, path)
    layers = json.loads(_run(uri, QEMU_IMG, "info", "-U", "--backing-chain", "--output=json", path))
    return tuple(layer["filename"] for layer in layers)


def image_commit(uri: str, top_path: str, *, overlay_path: str | None = None) -> str:
    """Write ``top_path``'s data into its backing file; returns that file's path. The top
    file is left as it was (-d): the caller removes it. ``overlay_path``, the file built on
    the top one if any, is then backed by the base (its header rewritten, its data as it was)."""
    _check(uri, top_path, *([overlay_path] if overlay_path else []), remote_ok=True)
    if not is_local(uri):
        return offline_domain.commit(uri, top_path, overlay_path)
    info = image_info(uri, top_path)
    if not info.backing_path:
        raise InvalidConfig(f"{top_path} has no backing file to commit into")
    _run(uri, QEMU_IMG, "commit", "-q", "-f", QCOW2, "-d", top_path)
    if overlay_path:
        image_rebase(uri, overlay_path, info.backing_path, unsafe=True)
    return info.backing_path


def image_rebase(uri: str, path: str, backing_path: str | None, *, unsafe: bool = False) -> None:
    """Make ``path`` backed by ``backing_path`` (None: by nothing). Safe mode first copies
    into ``path`` every cluster where the old and the new backing differ, so the guest sees
    the same data; ``unsafe`` only rewrites the header (the new backing holds the same data,
    local hosts only)."""
    _check(uri, path, *([backing_path] if backing_path else []), remote_ok=not unsafe)
    if not is_local(uri):
        offline_domain.pull(uri, path, backing_path)
        return
    args = [QEMU_IMG, "rebase", "-q", "-f", QCOW2]
    if unsafe:
        args.append("-u")
    if backing_path:
        args += ["-b", backing_path, "-F", image_info(uri, backing_path).format or QCOW2]
    else:
        args += ["-b", ""]
    _run(uri, *args, path)


def image_copy_layer(uri: str, source_path: str, dest_path: str, backing_path: str | None) -> None:
    """Copy one layer of a chain as it is (sparse), then point the copy at ``backing_path``
    (a copy of the source's backing file) without touching its data. On a remote host
    ``dest_path`` must already be a qcow2 backed by ``backing_path`` (storage.volume_create)."""
    _check(uri, source_path, dest_path, remote_ok=True)
    if not is_local(uri):
        offline_domain.copy_layer(uri, source_path, dest_path, backing_path)
        return
    if bool(image_info(uri, source_path).backing_path) != bool(backing_path):
        raise InvalidConfig(f"the copy of {source_path} is backed by the copy of its backing file, or by nothing")
    _run(uri, CP, "--sparse=always", "--", source_path, dest_path)
    if backing_path:
        image_rebase(uri, dest_path, backing_path, unsafe=True)
