"""Typed errors of the hypervisor gateway.

Callers catch these, never ``libvirt.libvirtError``: the mapping below is the only place
that knows libvirt's error codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt


class HypervisorError(Exception):
    """Base of every gateway error; ``code`` is libvirt's error code when there is one."""

    def __init__(self, message: str, *, uri: str | None = None, code: int | None = None):
        super().__init__(message)
        self.uri = uri
        self.code = code


class HostUnreachable(HypervisorError):
    """The host's libvirt could not be reached (network, auth, daemon down, timeout)."""


class DomainNotFound(HypervisorError):
    pass


class PoolNotFound(HypervisorError):
    pass


class VolumeNotFound(HypervisorError):
    pass


class SnapshotNotFound(HypervisorError):
    pass


class NotSupported(HypervisorError):
    """The operation is not supported on this host or driver (e.g. the test driver)."""


class InvalidConfig(HypervisorError):
    """The request or the XML is wrong; retrying will not help."""


class OperationFailed(HypervisorError):
    """libvirt refused or failed the operation (wrong state, I/O error, ...)."""


_UNREACHABLE_CODES = frozenset(
    {
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_AUTH_FAILED,
        libvirt.VIR_ERR_AUTH_CANCELLED,
        libvirt.VIR_ERR_AUTH_UNAVAILABLE,
    }
)
# A SYSTEM_ERROR raised by the transport layers means the socket/ssh link broke.
_TRANSPORT_DOMAINS = frozenset(
    {
        libvirt.VIR_FROM_RPC,
        libvirt.VIR_FROM_REMOTE,
        libvirt.VIR_FROM_SSH,
        libvirt.VIR_FROM_LIBSSH,
    }
)
_UNSUPPORTED_FLAGS = "unsupported flags"
_BY_CODE: dict[int, type[HypervisorError]] = {
    libvirt.VIR_ERR_NO_DOMAIN: DomainNotFound,
    libvirt.VIR_ERR_NO_STORAGE_POOL: PoolNotFound,
    libvirt.VIR_ERR_NO_STORAGE_VOL: VolumeNotFound,
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT: SnapshotNotFound,
    libvirt.VIR_ERR_NO_SUPPORT: NotSupported,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED: NotSupported,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED: NotSupported,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED: NotSupported,
    libvirt.VIR_ERR_XML_ERROR: InvalidConfig,
    libvirt.VIR_ERR_XML_DETAIL: InvalidConfig,
    libvirt.VIR_ERR_XML_INVALID_SCHEMA: InvalidConfig,
    libvirt.VIR_ERR_INVALID_ARG: InvalidConfig,
}


def from_libvirt_error(exc: libvirt.libvirtError, uri: str | None = None) -> HypervisorError:
    """Return the typed gateway error for a libvirt error (the caller raises it)."""
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    if code in _UNREACHABLE_CODES or (
        code == libvirt.VIR_ERR_SYSTEM_ERROR and exc.get_error_domain() in _TRANSPORT_DOMAINS
    ):
        cls: type[HypervisorError] = HostUnreachable
    elif code == libvirt.VIR_ERR_INVALID_ARG and message.startswith(_UNSUPPORTED_FLAGS):
        # virCheckFlags reports a flag the driver lacks (e.g. the test driver's disk-only
        # snapshots) as an invalid argument; for callers it is an unsupported operation.
        cls = NotSupported
    else:
        cls = _BY_CODE.get(code, OperationFailed)
    return cls(message, uri=uri, code=code)


@contextlib.contextmanager
def translated(uri: str | None = None) -> Iterator[None]:
    """Run a block of libvirt calls, re-raising libvirt errors as typed gateway errors."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise from_libvirt_error(exc, uri) from exc
