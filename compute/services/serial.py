"""Where the serial console reads a guest's log: the file itself when the host is the portal's
own machine (``hypervisor.is_local``: qemu:///system), else over the host's libvirt connection
(hypervisor.serial_log), so a web node needs no shared log directory. Input goes the same way on
every real host: the console stream of the libvirt connection (hypervisor.console_open)."""

import os

import hypervisor as hv


class LocalLog:
    def __init__(self, path):
        self.path = path

    def size(self):
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return None

    def read(self, offset, length):
        with open(self.path, "rb") as log:
            log.seek(offset)
            return log.read(length)


class RemoteLog:
    def __init__(self, uri, path):
        self.uri, self.path = uri, path

    def size(self):
        return hv.serial_log_size(self.uri, self.path)

    def read(self, offset, length):
        return hv.serial_log_read(self.uri, self.path, offset, length)


def serial_log(uri, path):
    """A reader with size() -> int | None and read(offset, length) -> bytes (blocking calls)."""
    return LocalLog(path) if hv.is_local(uri) else RemoteLog(uri, path)


READ_ERRORS = (OSError, hv.HypervisorError)


def open_input(uri, uuid):
    """A writer into the domain's serial console (send / drain / close, blocking calls), taking
    the console from whoever typed before; INPUT_ERRORS when it cannot be opened or has ended."""
    return hv.console_open(uri, uuid)


INPUT_ERRORS = (hv.HypervisorError,)
