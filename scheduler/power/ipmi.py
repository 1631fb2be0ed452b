"""IPMI over LAN (RMCP+, "lanplus") through ipmitool.

The password goes to ipmitool through its environment (-E reads IPMI_PASSWORD), never on the
command line where `ps` would show it. All process I/O goes through `_run`, the one seam.
"""

import os
import shutil
import subprocess

from scheduler import conf
from scheduler.power import PowerDriver, PowerError, PowerStatus

IPMITOOL = "ipmitool"
DEFAULT_PORT = 623
STATUS_WORDS = {"on": PowerStatus.ON, "off": PowerStatus.OFF}


def _run(argv, env, timeout_s):
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise PowerError(f"{IPMITOOL} is not installed (apt-get install ipmitool)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PowerError(f"the BMC did not answer within {timeout_s:g} s") from exc


class IpmiDriver(PowerDriver):
    def _call(self, *command):
        if shutil.which(IPMITOOL) is None:
            raise PowerError(f"{IPMITOOL} is not installed (apt-get install ipmitool)")
        cred = self.credentials
        argv = [
            IPMITOOL,
            "-I",
            "lanplus",
            "-C",
            str(conf.ipmi_cipher_suite()),
            "-H",
            cred.address,
            "-p",
            str(cred.port or DEFAULT_PORT),
            "-U",
            cred.username,
            "-E",
            "-N",
            "1",
            "-R",
            "2",
            *command,
        ]
        env = {**os.environ, "IPMI_PASSWORD": cred.password or ""}
        result = _run(argv, env, self.timeout_s)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise PowerError(f"ipmitool {' '.join(command)} failed: {detail[-1] if detail else result.returncode}")
        return result.stdout

    def power_on(self):
        self._call("chassis", "power", "on")

    def power_off(self):
        self._call("chassis", "power", "off")

    def status(self):
        out = self._call("chassis", "power", "status").strip().lower()  # "Chassis Power is on"
        return STATUS_WORDS.get(out.rsplit(" ", 1)[-1], PowerStatus.UNKNOWN)
