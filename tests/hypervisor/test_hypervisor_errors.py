import libvirt
import pytest

from hypervisor import errors


class FakeLibvirtError(libvirt.libvirtError):
    def __init__(self, code, domain=libvirt.VIR_FROM_QEMU, message="boom"):
        Exception.__init__(self, message)
        self.err = (code, domain, message, 2, None, None, None, 0, 0)


@pytest.mark.parametrize(
    "code,domain,expected",
    [
        (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, errors.DomainNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_FROM_STORAGE, errors.PoolNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_FROM_STORAGE, errors.VolumeNotFound),
        (libvirt.VIR_ERR_OPERATION_UNSUPPORTED, libvirt.VIR_FROM_QEMU, errors.NotSupported),
        (libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_FROM_DOMAIN, errors.InvalidConfig),
        (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_FROM_REMOTE, errors.HostUnreachable),
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, errors.HostUnreachable),
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_STORAGE, errors.OperationFailed),
        (libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU, errors.OperationFailed),
    ],
)
def test_it_maps_libvirt_errors_to_typed_errors(code, domain, expected):
    error = errors.from_libvirt_error(FakeLibvirtError(code, domain), "qemu:///system")
    assert type(error) is expected
    assert (error.code, error.uri) == (code, "qemu:///system")


def test_it_treats_unsupported_flags_as_not_supported():
    exc = FakeLibvirtError(libvirt.VIR_ERR_INVALID_ARG, message="unsupported flags (0x10) in function x")
    assert isinstance(errors.from_libvirt_error(exc), errors.NotSupported)


def test_translated_chains_the_original_error():
    with pytest.raises(errors.DomainNotFound) as caught:
        with errors.translated("test:///default"):
            raise FakeLibvirtError(libvirt.VIR_ERR_NO_DOMAIN)
    assert isinstance(caught.value.__cause__, libvirt.libvirtError)
