"""A host's power as a value in this process: the embedded default, demos and tests.

`fail_next(host_key)` makes the next call for that host raise, the way a dead BMC would.
"""

import threading

from scheduler.power import PowerDriver, PowerError, PowerStatus

_lock = threading.Lock()
_state: dict[str, str] = {}
_failing: set[str] = set()


def fail_next(host_key):
    with _lock:
        _failing.add(host_key)


def reset():
    with _lock:
        _state.clear()
        _failing.clear()


def state_of(host_key):
    with _lock:
        return _state.get(host_key, PowerStatus.ON)


class SimulatedDriver(PowerDriver):
    def _set(self, value):
        key = self.credentials.host_key
        with _lock:
            if key in _failing:
                _failing.discard(key)
                raise PowerError(f"simulated BMC of host {key} did not answer")
            _state[key] = value

    def power_on(self):
        self._set(PowerStatus.ON)

    def power_off(self):
        self._set(PowerStatus.OFF)

    def status(self):
        return state_of(self.credentials.host_key)
