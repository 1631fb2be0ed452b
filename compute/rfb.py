"""The console proxy's part of RFB's handshake (RFC 6143 §7.1-7.2).

Towards QEMU's VNC server the proxy is the client: it answers the server's challenge with the
instance's password (VNC Authentication: DES with the password as key, each key byte's bits
reversed). Towards the browser it is the server and offers security type None: the browser
was authorised by its one-minute ticket, and the VNC password never leaves the portal.
After both handshakes the proxy relays bytes; ClientInit and ServerInit pass through unchanged.

With a TLS context (settings NUBES_VNC_TLS_CA, compute.console.tls_context) the proxy insists
on VeNCrypt (security type 19, version 0.2): it picks the X509Vnc subtype (or X509None when that
is all the server offers), wraps the connection in TLS verifying the host's certificate against
the cloud's VNC CA (presenting its own client certificate), then runs VNC Authentication inside
TLS. A server that does not offer VeNCrypt is refused: no downgrade to plain VNC.
"""

import asyncio
import ssl
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

RFB_38 = b"RFB 003.008\n"
RFB_37 = b"RFB 003.007\n"
VERSION_BYTES = 12
SEC_NONE, SEC_VNC, SEC_VENCRYPT = 1, 2, 19
VENCRYPT_02 = bytes([0, 2])
X509_NONE, X509_VNC = 260, 261  # VeNCrypt subtypes with a verified server certificate
TLS_HANDSHAKE_TIMEOUT_S = 5
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


async def _greet(reader, writer):
    """Agree on the version and read the offered security types; returns (3.8?, offered)."""
    version = await _read(reader, VERSION_BYTES)
    if not version.startswith(b"RFB 003.") or version[8:11] not in (b"007", b"008"):
        raise HandshakeFailed(f"the VNC server speaks {version!r}, not RFB 3.7 or 3.8")
    minor38 = version[8:11] != b"007"
    writer.write(RFB_38 if minor38 else RFB_37)
    await writer.drain()
    (count,) = await _read(reader, 1)
    if count == 0:
        raise HandshakeFailed(f"the VNC server refused the connection: {await _reason(reader)}")
    return minor38, await _read(reader, count)


async def _result(reader, minor38, failed):
    (result,) = struct.unpack(">I", await _read(reader, 4))
    if result != 0:
        reason = await _reason(reader) if minor38 else failed
        raise HandshakeFailed(f"VNC authentication failed: {reason}")


async def _vnc_auth(reader, writer, password, minor38):
    """VNC Authentication: the challenge answered with the password, then SecurityResult."""
    if not password:
        raise HandshakeFailed("no VNC password is recorded for this instance; stop and start it to set one")
    writer.write(vnc_auth_response(password, await _read(reader, CHALLENGE_BYTES)))
    await writer.drain()
    await _result(reader, minor38, "wrong password")


async def _vencrypt(reader, writer, tls, server_hostname):
    """VeNCrypt 0.2 up to a verified TLS session; returns the chosen subtype."""
    major, minor = await _read(reader, 2)
    if (major, minor) < (0, 2):
        raise HandshakeFailed(f"the VNC server speaks VeNCrypt {major}.{minor}, not 0.2")
    writer.write(VENCRYPT_02)
    await writer.drain()
    if (await _read(reader, 1)) != b"\0":
        raise HandshakeFailed("the VNC server refused VeNCrypt version 0.2")
    (count,) = await _read(reader, 1)
    subtypes = struct.unpack(f">{count}I", await _read(reader, 4 * count))
    chosen = next((s for s in (X509_VNC, X509_NONE) if s in subtypes), None)
    if chosen is None:
        raise HandshakeFailed(
            f"the VNC server offers no VeNCrypt subtype with an X.509 certificate (offers {list(subtypes)})"
        )
    writer.write(struct.pack(">I", chosen))
    await writer.drain()
    if (await _read(reader, 1)) != b"\1":
        raise HandshakeFailed(f"the VNC server did not accept VeNCrypt subtype {chosen}")
    try:
        await writer.start_tls(tls, server_hostname=server_hostname, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
    except ssl.SSLError as exc:  # includes a certificate that the cloud's VNC CA did not sign
        raise HandshakeFailed(f"TLS with the VNC server failed: {exc}") from exc
    return chosen


async def authenticate(reader, writer, password, tls=None, server_hostname=None):
    """Run the client side of the handshake with the VNC server up to a successful
    SecurityResult; HandshakeFailed says why it did not succeed. Never connects without a password
    (or, over VeNCrypt's X509None, without the proxy's client certificate). With ``tls`` (an
    ssl.SSLContext) only VeNCrypt is accepted and ``writer`` carries TLS afterwards."""
    minor38, offered = await _greet(reader, writer)
    if tls is not None:
        if SEC_VENCRYPT not in offered:
            raise HandshakeFailed(
                f"the VNC server does not offer VeNCrypt/TLS (offers security types {list(offered)}); "
                "the proxy is configured for TLS and never falls back to plain VNC"
            )
        writer.write(bytes([SEC_VENCRYPT]))
        await writer.drain()
        if await _vencrypt(reader, writer, tls, server_hostname) == X509_NONE:
            await _result(reader, minor38, "refused after TLS")
        else:
            await _vnc_auth(reader, writer, password, minor38)
        return
    if SEC_VNC not in offered and SEC_VENCRYPT in offered:
        raise HandshakeFailed(
            f"the VNC server wants TLS (offers security types {list(offered)}) and this portal has no "
            "VNC CA: set NUBES_VNC_TLS_CA, NUBES_VNC_TLS_CERT and NUBES_VNC_TLS_KEY"
        )
    if SEC_VNC not in offered:
        raise HandshakeFailed(
            f"the VNC server does not ask for a password (offers security types {list(offered)}); "
            "Nubes never connects to a console without authentication"
        )
    if not password:
        raise HandshakeFailed("no VNC password is recorded for this instance; stop and start it to set one")
    writer.write(bytes([SEC_VNC]))
    await writer.drain()
    await _vnc_auth(reader, writer, password, minor38)


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
