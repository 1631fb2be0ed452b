"""The console proxy's part of RFB's handshake (RFC 6143 §7.1-7.2).

Towards QEMU's VNC server the proxy is the client: it answers the server's challenge with the
instance's password (VNC Authentication: DES with the password as key, each key byte's bits
reversed). Towards the browser it is the server and offers security type None: the browser
was authorised by its one-minute ticket, and the VNC password never leaves the portal.
After both handshakes the proxy relays bytes; ClientInit and ServerInit pass through unchanged.
"""

import asyncio
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

RFB_38 = b"RFB 003.008\n"
RFB_37 = b"RFB 003.007\n"
VERSION_BYTES = 12
SEC_NONE, SEC_VNC = 1, 2
CHALLENGE_BYTES = 16
KEY_BYTES = 8
REASON_MAX = 1024
# Security types the browser side offers (one: None) and its SecurityResult "OK" (3.8).
OFFER_NONE = bytes([1, SEC_NONE])
RESULT_OK = struct.pack(">I", 0)


class HandshakeFailed(Exception):
    """The VNC server could not be authenticated to; the message says why."""


def vnc_auth_response(password, challenge):
    """The 16 bytes answering ``challenge`` for ``password`` (its first 8 bytes, zero padded)."""
    key = password.encode("latin-1", "replace")[:KEY_BYTES].ljust(KEY_BYTES, b"\0")
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in key)  # VNC's DES key has each byte mirrored
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # K1=K2=K3: single DES
    return encryptor.update(challenge) + encryptor.finalize()


async def _read(reader, count):
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as exc:
        raise HandshakeFailed("the VNC server closed the connection during the handshake") from exc


async def _reason(reader):
    (length,) = struct.unpack(">I", await _read(reader, 4))
    return (await _read(reader, min(length, REASON_MAX))).decode("utf-8", "replace")


async def authenticate(reader, writer, password):
    """Run the client side of the handshake with the VNC server up to a successful
    SecurityResult; HandshakeFailed says why it did not succeed. Never connects without a password."""
    version = await _read(reader, VERSION_BYTES)
    if not version.startswith(b"RFB 003.") or version[8:11] not in (b"007", b"008"):
        raise HandshakeFailed(f"the VNC server speaks {version!r}, not RFB 3.7 or 3.8")
    minor38 = version[8:11] != b"007"
    writer.write(RFB_38 if minor38 else RFB_37)
    await writer.drain()
    (count,) = await _read(reader, 1)
    if count == 0:
        raise HandshakeFailed(f"the VNC server refused the connection: {await _reason(reader)}")
    offered = await _read(reader, count)
    if SEC_VNC not in offered:
        raise HandshakeFailed(
            f"the VNC server does not ask for a password (offers security types {list(offered)}); "
            "Nubes never connects to a console without authentication"
        )
    if not password:
        raise HandshakeFailed("no VNC password is recorded for this instance; stop and start it to set one")
    writer.write(bytes([SEC_VNC]))
    await writer.drain()
    writer.write(vnc_auth_response(password, await _read(reader, CHALLENGE_BYTES)))
    await writer.drain()
    (result,) = struct.unpack(">I", await _read(reader, 4))
    if result != 0:
        reason = await _reason(reader) if minor38 else "wrong password"
        raise HandshakeFailed(f"VNC authentication failed: {reason}")


class BrowserHandshake:
    """The server side towards the browser, fed with the bytes it sends: version, then the
    security type (None). ``feed`` returns (bytes to send to the browser, bytes left over for
    the VNC server once done). ``done`` once the browser may speak to the server."""

    def __init__(self):
        self.buffer = b""
        self.stage = "version"
        self.done = False

    def greeting(self):
        return RFB_38

    def feed(self, data):
        self.buffer += data
        out = b""
        if self.stage == "version" and len(self.buffer) >= VERSION_BYTES:
            version, self.buffer = self.buffer[:VERSION_BYTES], self.buffer[VERSION_BYTES:]
            if version != RFB_38:
                raise HandshakeFailed(f"the browser speaks {version!r}; the proxy offers RFB 3.8 only")
            self.stage, out = "security", OFFER_NONE
        if self.stage == "security" and len(self.buffer) >= 1:
            chosen, self.buffer = self.buffer[0], self.buffer[1:]
            if chosen != SEC_NONE:
                raise HandshakeFailed(f"the browser chose security type {chosen}, not the offered None")
            self.stage, self.done = "relay", True
            out += RESULT_OK
            rest, self.buffer = self.buffer, b""
            return out, rest
        return out, b""
