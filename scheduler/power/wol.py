"""Wake-on-LAN: a magic packet (6 x 0xFF, then the MAC 16 times) to the broadcast address.

It can only wake: it cannot power a host off nor tell whether it is on, so a WoL host is
never fenced (HA will not restart its instances elsewhere) and DPM cannot put it in standby.
"""

import socket

from scheduler import conf
from scheduler.power import PowerDriver, PowerError, PowerStatus

SYNC = b"\xff" * 6
MAC_REPEATS = 16
MAC_BYTES = 6


def magic_packet(mac):
    digits = mac.replace(":", "").replace("-", "")
    try:
        raw = bytes.fromhex(digits)
    except ValueError as exc:
        raise PowerError(f"{mac!r} is not a MAC address") from exc
    if len(raw) != MAC_BYTES:
        raise PowerError(f"{mac!r} is not a MAC address")
    return SYNC + raw * MAC_REPEATS


class WakeOnLanDriver(PowerDriver):
    can_power_off = False
    can_read_status = False

    def power_on(self):
        packet = magic_packet(self.credentials.address)
        target = (conf.wol_broadcast(), self.credentials.port or conf.wol_port())
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.sendto(packet, target)
        except OSError as exc:
            raise PowerError(f"Wake-on-LAN packet to {target[0]}:{target[1]} not sent: {exc}") from exc

    def power_off(self):
        raise PowerError("Wake-on-LAN cannot power a host off (nor fence it)")

    def status(self):
        return PowerStatus.UNKNOWN
