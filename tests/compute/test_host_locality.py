"""One answer to "is this host the portal's own machine?" (hypervisor.is_local) on every path that
asks: host memory (KSM), offline chain changes, the serial console, the KVM probe, the graphical
console's address and compute's broker check. A URI naming a machine is remote everywhere; none of
these calls opens a connection (nothing listens at 10.99.0.2 here)."""

import pytest

import hypervisor as hv
from compute.checks import is_local_uri
from compute.console import LOOPBACK, listen_address
from compute.models import Host
from compute.services.serial import LocalLog, RemoteLog, serial_log
from hypervisor import hostmem, offline
from hypervisor.host import _kvm_status

REMOTE = ["qemu+tcp://10.99.0.2/system", "qemu://10.99.0.2/system", "qemu+ssh://root@10.99.0.2/system"]
LOCAL = ["qemu:///system", "qemu:///session"]
SIMULATED = "test:///default"
LOG = "/var/log/libvirt/qemu/vm.log"


@pytest.mark.parametrize("uri", REMOTE)
def test_a_uri_naming_a_machine_is_remote_on_every_path(uri):
    assert not hv.is_local(uri)
    assert not is_local_uri(uri)  # no 'local URI with a network broker' warning
    assert isinstance(serial_log(uri, LOG), RemoteLog)
    assert listen_address(Host(uri=uri)) == "10.99.0.2"
    assert offline.offline_how(uri, "commit") == "offline commit in a paused helper domain"
    with pytest.raises(hv.NotSupported, match="paused helper domain"):
        offline.image_info(uri, LOG)  # qemu-img here would read this machine's file, not the host's
    with pytest.raises(hv.NotSupported, match="only on the portal's own host"):
        hostmem.ksm_set_run(uri, hostmem.KSM_STOP)
    assert "/dev/kvm" not in _kvm_status(False, ("kvm", "qemu"), uri).note  # this machine's /dev/kvm is not its


@pytest.mark.parametrize("uri", LOCAL)
def test_a_uri_naming_no_machine_is_local_on_every_path(uri, tmp_path):
    assert hv.is_local(uri)
    assert is_local_uri(uri)
    log = tmp_path / "vm.log"
    log.write_bytes(b"boot\n")
    reader = serial_log(uri, str(log))
    assert isinstance(reader, LocalLog) and reader.read(0, 10) == b"boot\n"
    assert listen_address(Host(uri=uri)) == LOOPBACK
    assert offline.offline_how(uri, "commit") == "offline qemu-img commit"
    with pytest.raises(hv.NotSupported, match="no KSM"):  # a local write, refused only by the missing file
        hostmem.ksm_set_run(uri, hostmem.KSM_STOP, sys_root=tmp_path)


def test_a_simulated_host_is_local_yet_has_no_files_or_libvirtd():
    assert hv.is_local(SIMULATED) and hv.is_simulated(SIMULATED)
    assert listen_address(Host(uri=SIMULATED)) == LOOPBACK
    assert not is_local_uri(SIMULATED)  # the broker check judges libvirtds; a test driver has none
    memory = hostmem.host_memory(SIMULATED)
    assert not memory.readable and memory.note == hostmem.SIMULATED_NOTE
    with pytest.raises(hv.NotSupported, match="simulated host has no files"):
        offline.image_info(SIMULATED, LOG)


def test_a_uri_the_gateway_refuses_is_neither():
    with pytest.raises(hv.InvalidConfig):
        hv.is_local("http://10.99.0.2/")
    assert not is_local_uri("http://10.99.0.2/")
