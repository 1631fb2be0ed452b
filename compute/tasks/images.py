"""The image store's steps, run by the image tasks (and inline by an API upload): put data into
an image from a stream. Everything goes through ``receive``: chunks are written to a part file
in the image store while SHA-256 is computed (or streamed straight into the image's pool on a
real host), the format is read from the header magic (qcow2 ``QFI\\xfb``; anything that is not
another known disk format is raw), and the Operation shows the progress. A bad header or a
checksum mismatch fails the Operation and leaves no file behind.
"""

import hashlib
import itertools
import math
import os
import socket
import struct
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db.models import ProtectedError

import hypervisor as hv
from compute.choices import BYTES_PER_GIB, HostState, ImageFormat, ImageState
from compute.hosts import pools_of
from compute.models import Host, Image
from portal import operations
from portal.env import env_list, env_str
from portal.errors import ActionError
from portal.streaming import body_pieces
from portal.tasks import run_operation

CHUNK = 1024 * 1024
PROGRESS_EVERY = 5  # percent between published progress updates
QCOW2_MAGIC = b"QFI\xfb"
QCOW2_SIZE = struct.Struct(">Q")  # virtual size, bytes, at offset 24 of the header
QCOW2_SIZE_OFFSET = 24
HEADER_BYTES = 512
# Other disk formats a "raw" upload must not be (Glance's format inspector checks the same).
FOREIGN_MAGIC = {b"KDMV": "vmdk", b"vhdxfile": "vhdx", b"conectix": "vhd", b"<<< Oracle VM": "vdi"}
SPOOL_DIR = "incoming"  # browser uploads an earlier version spooled for their task, in the image store


def activate(image, fmt, size, checksum, virtual, file_path):
    """The image's data is in place: mark it active with what was measured; its virtual GiB."""
    virtual_gb = max(1, math.ceil((virtual or size) / BYTES_PER_GIB))
    Image.objects.filter(pk=image.pk).update(
        state=ImageState.ACTIVE,
        state_reason="",
        format=fmt,
        size_bytes=size,
        checksum_sha256=checksum,
        virtual_size_gb=virtual_gb,
        min_disk_gb=max(image.min_disk_gb, virtual_gb),
        file_path=file_path,
    )
    return virtual_gb


def store_dir():
    """Where image data is kept on the portal's machine (NUBES_IMAGE_STORE, default DATA_DIR/images)."""
    default = getattr(settings, "NUBES_IMAGE_STORE", None) or env_str(
        "NUBES_IMAGE_STORE", str(settings.DATA_DIR / "images")
    )
    path = Path(default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_roots():
    """Directories a cloud admin may import images from (NUBES_IMAGE_IMPORT_ROOTS, comma-separated)."""
    configured = getattr(settings, "NUBES_IMAGE_IMPORT_ROOTS", None)
    return [Path(p) for p in (configured if configured is not None else env_list("NUBES_IMAGE_IMPORT_ROOTS"))]


class BadImage(ActionError):
    """The data is not what the image says it is."""


def sniff(header, declared):
    """(format, virtual size in bytes or None) from the first bytes; BadImage if they contradict."""
    if header.startswith(QCOW2_MAGIC):
        if declared != ImageFormat.QCOW2:
            raise BadImage(f"The data is qcow2 (magic {QCOW2_MAGIC!r}) but the image says {declared}.")
        if len(header) < QCOW2_SIZE_OFFSET + QCOW2_SIZE.size:
            raise BadImage("The qcow2 header is truncated.")
        return ImageFormat.QCOW2, QCOW2_SIZE.unpack_from(header, QCOW2_SIZE_OFFSET)[0]
    if declared == ImageFormat.QCOW2:
        raise BadImage(f"Not a qcow2 image: the header starts with {header[:4]!r}, not {QCOW2_MAGIC!r}.")
    for magic, name in FOREIGN_MAGIC.items():
        if header.startswith(magic):
            raise BadImage(f"The data is a {name} image; upload qcow2 or raw.")
    return ImageFormat.RAW, None


def home_host(image):
    """The real host, up, that serves the image's pool (the first by name): image data streams
    into that pool over the libvirt connection. None when no such host is registered."""

    for host in Host.objects.filter(state=HostState.UP, simulated=False).order_by("name"):
        if image.pool in (pools_of(host) or ()):
            return host
    return None


def receive(image, chunks, op, *, total=None):
    """Put ``chunks`` (an iterable of bytes) in as the image's data; returns a message. With a
    real host serving the image's pool the bytes stream straight into its volume there
    (compute's hosts copy it from that pool on first use); without one they go to the portal's
    image store (the embedded default before any real host).

    On any BadImage nothing is left (part file or volume) and the image is marked error."""
    host = home_host(image)
    if host is not None:
        return _receive_into_pool(image, host, iter(chunks), op, total)
    final = store_dir() / f"image-{image.pk}.{image.format}"
    part = final.with_suffix(final.suffix + ".part")
    digest, size, header, reported, sniffed = hashlib.sha256(), 0, b"", 0, None
    Image.objects.filter(pk=image.pk).update(state=ImageState.SAVING, state_reason="")
    try:
        with open(part, "wb") as out:
            for chunk in chunks:
                if sniffed is None:
                    header += chunk[: HEADER_BYTES - len(header)]
                    if len(header) >= HEADER_BYTES:
                        sniffed = sniff(header, image.format)  # a bad header stops the copy here
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if total:
                    percent = min(99, 100 * size // total)
                    if percent >= reported + PROGRESS_EVERY:
                        reported = percent
                        operations.progress(op, percent, f"{size} of {total} bytes")
        if size == 0:
            raise BadImage("The upload is empty.")
        fmt, virtual = sniffed or sniff(header, image.format)
        checksum = digest.hexdigest()
        if image.checksum_sha256 and checksum != image.checksum_sha256:
            raise BadImage(f"Checksum mismatch: expected sha256 {image.checksum_sha256}, got {checksum}.")
        os.replace(part, final)
    except (BadImage, OSError) as exc:
        part.unlink(missing_ok=True)
        Image.objects.filter(pk=image.pk).update(state=ImageState.ERROR, state_reason=str(exc)[:500])
        if isinstance(exc, OSError):
            raise ActionError(f"Could not store the image: {exc}") from exc
        raise
    virtual_gb = activate(image, fmt, size, checksum, virtual, str(final))
    return f"{image.name}: {size} bytes, {fmt}, sha256 {checksum[:12]}…, virtual size {virtual_gb} GB"


class _Counted:
    """The body's chunks as they pass: SHA-256, size, progress on the Operation."""

    def __init__(self, head, rest, op, total):
        self.head, self.rest, self.op, self.total = head, rest, op, total
        self.digest, self.size, self.reported = hashlib.sha256(), 0, 0

    def __iter__(self):
        for chunk in itertools.chain(self.head, self.rest):
            yield self._count(chunk)

    def _count(self, chunk):
        self.digest.update(chunk)
        self.size += len(chunk)
        percent = min(99, 100 * self.size // self.total)
        if percent >= self.reported + PROGRESS_EVERY:
            self.reported = percent
            operations.progress(self.op, percent, f"{self.size} of {self.total} bytes")
        return chunk


def _receive_into_pool(image, host, chunks, op, total):
    """Stream the image into volume ``image.volume`` of its pool on ``host``; the format and
    virtual size come from the first bytes, the checksum is checked once all went through."""
    Image.objects.filter(pk=image.pk).update(state=ImageState.SAVING, state_reason="")
    made = False
    try:
        if not total:
            raise BadImage(f"Send the image with its Content-Length: it streams straight into {host.name}.")
        head, header = [], b""
        for chunk in chunks:
            head.append(chunk)
            header += chunk[: HEADER_BYTES - len(header)]
            if len(header) >= HEADER_BYTES:
                break
        if not header:
            raise BadImage("The upload is empty.")
        fmt, virtual = sniff(header, image.format)
        body = _Counted(head, chunks, op, total)
        try:
            hv.volume_create_streamed(
                host.uri, image.pool, image.volume, body, total, capacity=virtual or total, fmt=fmt
            )
        except hv.HypervisorError as exc:
            raise BadImage(f"Could not store the image in pool {image.pool} on {host.name}: {exc}") from exc
        made = True
        checksum = body.digest.hexdigest()
        if image.checksum_sha256 and checksum != image.checksum_sha256:
            raise BadImage(f"Checksum mismatch: expected sha256 {image.checksum_sha256}, got {checksum}.")
    except (BadImage, OSError) as exc:
        if made:
            try:
                hv.volume_delete(host.uri, image.pool, image.volume)
            except hv.HypervisorError:
                pass  # the checksum's error is the one to report
        Image.objects.filter(pk=image.pk).update(state=ImageState.ERROR, state_reason=str(exc)[:500])
        if isinstance(exc, OSError):
            raise ActionError(f"The upload broke off: {exc}") from exc
        raise
    virtual_gb = activate(image, fmt, total, checksum, virtual, "")
    return (
        f"{image.name}: {total} bytes, {fmt}, sha256 {checksum[:12]}…, virtual size {virtual_gb} GB, "
        f"in pool {image.pool} on {host.name}"
    )


def settle_lost_upload(op):
    """The reaper's settle hook (portal.leases) for an image upload whose process died (the web
    process streaming it, or the worker storing a spooled one): remove the partial data (the
    image's volume on its home host, or this machine's part file and spool) and leave the image
    in error, so it can be uploaded again. Raises when the home host does not answer."""
    image = Image.objects.filter(pk=op.target_id).first()
    if image is None or image.state != ImageState.SAVING:
        return ""
    host = home_host(image)
    if host is not None:
        try:
            hv.volume_delete(host.uri, image.pool, image.volume)
        except hv.VolumeNotFound:
            pass
    else:
        (store_dir() / f"image-{image.pk}.{image.format}.part").unlink(missing_ok=True)
    if op.detail.get("spool"):
        Path(op.detail["spool"]).unlink(missing_ok=True)
    reason = "The upload was interrupted (its process was lost); nothing of it was kept."
    Image.objects.filter(pk=image.pk, state=ImageState.SAVING).update(state=ImageState.ERROR, state_reason=reason)
    return reason


def run_spooled(op):
    """The task's work for upload_file: stream the spool file in, then remove it."""
    image = Image.objects.get(pk=op.target_id)
    spool = Path(op.detail["spool"])
    try:
        with open(spool, "rb") as source:
            return receive(image, body_pieces(source, CHUNK), op, total=spool.stat().st_size)
    finally:
        spool.unlink(missing_ok=True)


def resolve_import_path(path):
    """The real path of a file inside one of the allowed roots, or ActionError keyed by 'path'."""
    roots = [root.resolve() for root in import_roots()]
    if not roots:
        raise ActionError("Image import from a path is off: set NUBES_IMAGE_IMPORT_ROOTS.", field="path")
    real = Path(path).resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise ActionError(f"{path} is outside the import roots ({', '.join(map(str, roots))}).", field="path")
    if not real.is_file():
        raise ActionError(f"{path} is not a file.", field="path")
    return real


IMPORT_URL_SCHEMES = ("http", "https")
IMPORT_URL_TIMEOUT_S = 30  # to connect, and between two reads


def check_import_url(url):
    """``url`` when it is an http(s) URL naming a host, else ActionError keyed by 'url'."""
    parts = urlsplit(url)
    if parts.scheme not in IMPORT_URL_SCHEMES or not parts.hostname:
        raise ActionError(f"{url} is not an http or https URL with a host.", field="url")
    return url


def _import_url(image, op, url):
    """Glance's web-download: the worker running the task fetches the URL and streams the body
    into the image (its pool on the home host, over libvirt), so any worker can do it."""
    request = urllib.request.Request(check_import_url(url), headers={"User-Agent": "nubes-image-import"})
    try:
        response = urllib.request.urlopen(request, timeout=IMPORT_URL_TIMEOUT_S)  # noqa: S310 - http(s) only, checked
    except urllib.error.HTTPError as exc:
        raise ActionError(f"Fetching {url} answered {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ActionError(f"Cannot fetch {url}: {getattr(exc, 'reason', exc)}.") from exc
    with response:
        length = response.headers.get("Content-Length", "")
        return receive(image, body_pieces(response, CHUNK), op, total=int(length) if length.isdigit() else None)


def run_import(op):
    """The task's work: fetch the URL, or re-check the path (it may have changed since) on the
    machine of the worker running it, then stream it in."""
    image = Image.objects.get(pk=op.target_id)
    if "url" in op.detail:
        return _import_url(image, op, op.detail["url"])
    try:
        real = resolve_import_path(op.detail["path"])
    except ActionError as exc:
        raise ActionError(
            f"{exc} (on {socket.gethostname()}: a path is read by the worker that runs the import; "
            "where workers and web processes are different machines, import from a URL)"
        ) from exc
    with open(real, "rb") as source:
        return receive(image, body_pieces(source, CHUNK), op, total=real.stat().st_size)


@shared_task(bind=True, name="compute.tasks.import_image")
def import_image(self, op_id):
    """Fetch a URL, or copy a file from an allowed root, into an image (compute.services.images)."""
    return run_operation(op_id, run_import, self.request.id or "")


@shared_task(bind=True, name="compute.tasks.receive_upload")
def receive_upload(self, op_id):
    """Check and store a file the browser uploaded, spooled by an earlier version (whose messages
    may still be queued at an upgrade); the form's upload now streams in its request."""
    return run_operation(op_id, run_spooled, self.request.id or "")


def _holders(image):
    """Every host that may hold the image's volume: those serving its pool (simulated ones too,
    whose stand-in volume is forgotten the same way)."""
    return [host for host in Host.objects.order_by("name") if image.pool in (pools_of(host) or ())]


def _gone_after_refresh(host, image):
    """A shared pool lists a file another host just removed until it is refreshed: the delete
    then fails on a file that is gone. True when a refresh shows it gone."""
    try:
        hv.pool_refresh(host.uri, image.pool)
        hv.volume_info(host.uri, image.pool, image.volume)
    except (hv.VolumeNotFound, hv.PoolNotFound):
        return True
    except hv.HypervisorError:
        return False
    return False


def _refuse_delete(image, reason):
    """The image stays, in error, saying why (the image page and Glance show it)."""
    Image.objects.filter(pk=image.pk).update(state=ImageState.ERROR, state_reason=reason[:500])
    raise ActionError(reason)


def run_delete(op):
    """The task's work: remove the image's volume on every host serving its pool, through each
    host's libvirt connection (remote hosts alike), and its file in the image store; then the
    row. A host that does not answer leaves the image in error, saying where its data remains
    (deleting again finishes the job); the row goes only once nothing of it is left."""
    image = Image.objects.get(pk=op.target_id)
    hosts, removed, left = _holders(image), [], []
    for index, host in enumerate(hosts, start=1):
        try:
            hv.volume_delete(host.uri, image.pool, image.volume)
            removed.append(host.name)
        except (hv.VolumeNotFound, hv.PoolNotFound):
            pass  # nothing of it there (a shared pool's file another host removed, a cache never filled)
        except hv.HypervisorError as exc:
            if not _gone_after_refresh(host, image):
                left.append(f"{host.name}: {exc}")
        operations.progress(op, 90 * index // len(hosts), f"{image.volume} checked on {host.name}")
    if image.file_path:
        try:
            Path(image.file_path).unlink(missing_ok=True)
        except OSError as exc:
            left.append(f"the image store ({image.file_path}): {exc}")
    if left:
        _refuse_delete(image, f"The delete left its data in pool {image.pool} on {'; '.join(left)}. Delete it again.")
    try:
        image.delete()
    except ProtectedError as exc:  # a record that names it appeared since the service checked
        users = ", ".join(sorted({str(obj) for obj in exc.protected_objects})[:5])
        _refuse_delete(image, f"Its data is removed but {users} still name it; delete those, then the image.")
    where = f" from pool {image.pool} on {', '.join(removed)}" if removed else ""
    return f"Image {image.name} deleted{where}"


@shared_task(bind=True, name="compute.tasks.delete_image")
def delete_image(self, op_id):
    """Remove an image's data on every host, then the image (compute.services.images.delete)."""
    return run_operation(op_id, run_delete, self.request.id or "")
