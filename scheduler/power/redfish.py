"""Redfish: the system resource's PowerState and its ComputerSystem.Reset action, over urllib.

`address` is the system's URL (e.g. https://bmc/redfish/v1/Systems/1). Hard power-off is
"ForceOff": fencing must not wait for a guest OS to agree.
"""

import base64
import json
import urllib.error
import urllib.request

from scheduler.power import PowerDriver, PowerError, PowerStatus

RESET_PATH = "/Actions/ComputerSystem.Reset"
STATES = {"on": PowerStatus.ON, "off": PowerStatus.OFF, "poweringon": PowerStatus.ON, "poweringoff": PowerStatus.OFF}


def _open(request, timeout_s):
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise PowerError(f"Redfish {request.get_method()} {request.full_url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PowerError(f"Redfish {request.full_url} unreachable: {exc}") from exc
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise PowerError(f"Redfish {request.full_url} answered something that is not JSON") from exc


class RedfishDriver(PowerDriver):
    def _request(self, url, method="GET", payload=None):
        cred = self.credentials
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if cred.username:
            token = base64.b64encode(f"{cred.username}:{cred.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return _open(request, self.timeout_s)

    def _reset(self, reset_type):
        self._request(self.credentials.address.rstrip("/") + RESET_PATH, "POST", {"ResetType": reset_type})

    def power_on(self):
        self._reset("On")

    def power_off(self):
        self._reset("ForceOff")

    def status(self):
        body = self._request(self.credentials.address)
        return STATES.get(str(body.get("PowerState", "")).lower(), PowerStatus.UNKNOWN)
