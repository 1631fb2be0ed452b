"""Network backends, chosen by setting (dotted path, loaded lazily): OVN (real, multi-host)
or libvirt networks on the simulated hosts (the embedded default)."""

import importlib
import threading

from network import conf as net_settings
from network.choices import Backend

BUILTIN = {Backend.OVN: net_settings.OVN_BACKEND, Backend.LIBVIRT: net_settings.LIBVIRT_BACKEND}
_loaded = {}
_lock = threading.Lock()


def _load(path):
    with _lock:
        if path not in _loaded:
            module, _, name = path.rpartition(".")
            _loaded[path] = getattr(importlib.import_module(module), name)()
        return _loaded[path]


def configured():
    """The backend new networks are realised with."""
    return _load(net_settings.backend_path())


def for_name(name):
    """The backend that realised an existing object (recorded on its network)."""
    current = configured()
    return current if current.name == name else _load(BUILTIN[name])
