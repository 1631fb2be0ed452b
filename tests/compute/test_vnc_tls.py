"""VeNCrypt between the console proxy and QEMU's VNC: a real asyncio TLS server in the test
(certificates from a CA made here with `cryptography`) speaks RFB 3.8 + VeNCrypt 0.2 as QEMU
does with vnc_tls = 1 and vnc_tls_x509_verify = 1; the proxy must verify the server's
certificate, present its own, authenticate with the password inside TLS and never fall back to
plain VNC. tests/integration/test_remote_console_lab.py runs the same against the lab's QEMU."""

import asyncio
import datetime
import ipaddress
import os
import ssl
import struct

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.test import override_settings

from compute import console, rfb
from tests.compute.test_vnc_proxy import (
    RFB_GREETING,
    browser_handshake,
    local_host,
    make_instance,
    open_vnc,
    refused_with,
    server_response,
    token_for,
)

PASSWORD = "vncPass1"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, *, ca=False, server=False, ip=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        usage = dict(digital_signature=False, key_cert_sign=True, crl_sign=True)
    else:
        usage = dict(digital_signature=True, key_cert_sign=False, crl_sign=False)
        purpose = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        critical=True,
    )
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory, name, cert, key):
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / f"{name}-cert.pem").write_bytes(pem)
    (directory / f"{name}-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(directory / f"{name}-cert.pem"), str(directory / f"{name}-key.pem")


class Pki:
    """The cloud's VNC CA, a host certificate for 127.0.0.1, the proxy's client certificate,
    and a second ("rogue") CA with a host certificate of its own."""

    def __init__(self, directory):
        self.dir = directory
        made = {}
        for ca in ("ca", "rogue"):
            key = ec.generate_private_key(ec.SECP256R1())
            made[ca] = (_cert(f"Nubes {ca}", key, f"Nubes {ca}", key, ca=True), key)
        for name, ca, server in (("host", "ca", True), ("proxy", "ca", False), ("rogue-host", "rogue", True)):
            key = ec.generate_private_key(ec.SECP256R1())
            ca_cert, ca_key = made[ca]
            cert = _cert(name, key, f"Nubes {ca}", ca_key, server=server, ip="127.0.0.1" if server else None)
            made[name] = (cert, key)
        self.paths = {name: _write(directory, name, *made[name]) for name in made}
        self.ca = self.paths["ca"][0]

    def client_context(self, with_cert=True):
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        if with_cert:
            context.load_cert_chain(*self.paths["proxy"])
        return context

    def server_context(self, host="host"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca)
        context.verify_mode = ssl.CERT_REQUIRED  # vnc_tls_x509_verify = 1
        context.load_cert_chain(*self.paths[host])
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("vnc-pki"))


class VeNCryptServer:
    """QEMU's side: RFB 3.8 offering ``offer``; on VeNCrypt, version 0.2, ``subtypes``, TLS with
    ``tls`` (client certificate required), then VNC Authentication (X509Vnc) or straight to
    SecurityResult (X509None); afterwards it echoes b'echo:' + chunk. ``log`` records what
    happened: the chosen type and subtype, the client certificate's CN, the auth outcome."""

    def __init__(self, tls, offer=(rfb.SEC_VENCRYPT,), subtypes=(rfb.X509_VNC,), password=PASSWORD):
        self.tls, self.offer, self.subtypes, self.password = tls, offer, subtypes, password
        self.log = []

    async def handle(self, reader, writer):
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as exc:
            self.log.append(("ended", type(exc).__name__))
        finally:
            writer.close()

    async def _handle(self, reader, writer):
        writer.write(RFB_GREETING)
        await reader.readexactly(12)
        writer.write(bytes([len(self.offer), *self.offer]))
        (chosen,) = await reader.readexactly(1)
        self.log.append(("type", chosen))
        if chosen == rfb.SEC_VENCRYPT:
            writer.write(bytes([0, 2]))
            assert await reader.readexactly(2) == bytes([0, 2])
            writer.write(bytes([0, len(self.subtypes)]) + struct.pack(f">{len(self.subtypes)}I", *self.subtypes))
            (sub,) = struct.unpack(">I", await reader.readexactly(4))
            self.log.append(("subtype", sub))
            writer.write(b"\1")
            await writer.drain()
            await writer.start_tls(self.tls)
            peer = writer.get_extra_info("ssl_object").getpeercert()
            self.log.append(("client", dict(x[0] for x in peer["subject"])["commonName"]))
            if sub == rfb.X509_NONE:
                writer.write(struct.pack(">I", 0))
                await self._echo(reader, writer)
                return
        elif chosen != rfb.SEC_VNC:
            return
        challenge = os.urandom(16)
        writer.write(challenge)
        ok = await reader.readexactly(16) == server_response(self.password, challenge)
        self.log.append(("auth", ok))
        if not ok:
            reason = b"Authentication failed"
            writer.write(struct.pack(">II", 1, len(reason)) + reason)
            await writer.drain()
            return
        writer.write(struct.pack(">I", 0))
        await self._echo(reader, writer)

    async def _echo(self, reader, writer):
        await writer.drain()
        while data := await reader.read(1024):
            writer.write(b"echo:" + data)
            await writer.drain()


async def _connect(fake, client_tls, password=PASSWORD, hostname="127.0.0.1"):
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        await asyncio.wait_for(rfb.authenticate(reader, writer, password, client_tls, hostname), 10)
        writer.write(b"\x01")  # ClientInit
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(6), 10), writer.get_extra_info("ssl_object")
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_vencrypt_x509vnc_verifies_the_host_presents_the_proxy_and_authenticates_inside_tls(pki):
    fake = VeNCryptServer(pki.server_context(), subtypes=(258, rfb.X509_NONE, rfb.X509_VNC))
    echoed, tls = await _connect(fake, pki.client_context())
    assert echoed == b"echo:\x01" and tls is not None and tls.version() in ("TLSv1.2", "TLSv1.3")
    assert fake.log == [("type", 19), ("subtype", 261), ("client", "proxy"), ("auth", True)]


@pytest.mark.asyncio
async def test_vencrypt_x509none_when_that_is_all_the_host_offers(pki):
    fake = VeNCryptServer(pki.server_context(), subtypes=(rfb.X509_NONE,))
    echoed, tls = await _connect(fake, pki.client_context(), password="")
    assert echoed == b"echo:\x01" and tls is not None
    assert fake.log == [("type", 19), ("subtype", 260), ("client", "proxy")]


@pytest.mark.asyncio
async def test_a_wrong_password_inside_tls_is_refused_with_the_servers_reason(pki):
    fake = VeNCryptServer(pki.server_context(), password="other")
    with pytest.raises(rfb.HandshakeFailed, match="VNC authentication failed: Authentication failed"):
        await _connect(fake, pki.client_context())
    assert ("auth", False) in fake.log


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "offer, subtypes, expected",
    [
        ((rfb.SEC_VNC,), (), "does not offer VeNCrypt/TLS .* never falls back to plain VNC"),
        ((rfb.SEC_VNC, rfb.SEC_NONE), (), "does not offer VeNCrypt/TLS"),
        ((rfb.SEC_VENCRYPT,), (257, 258), r"no VeNCrypt subtype with an X.509 certificate \(offers \[257, 258\]\)"),
    ],
)
async def test_with_tls_configured_the_proxy_never_downgrades(pki, offer, subtypes, expected):
    fake = VeNCryptServer(pki.server_context(), offer=offer, subtypes=subtypes)
    with pytest.raises(rfb.HandshakeFailed, match=expected):
        await _connect(fake, pki.client_context())
    assert not any(entry[0] in ("auth", "client") for entry in fake.log), fake.log  # no password was sent


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "host, hostname, expected",
    [
        ("rogue-host", "127.0.0.1", "certificate verify failed: unable to get local issuer certificate"),
        ("host", "10.99.0.2", "certificate verify failed: IP address mismatch"),
    ],
)
async def test_a_host_certificate_the_cloud_ca_did_not_sign_or_for_another_address_is_refused(
    pki, host, hostname, expected
):
    fake = VeNCryptServer(pki.server_context(host))
    with pytest.raises(rfb.HandshakeFailed, match=f"TLS with the VNC server failed: .*{expected}"):
        await _connect(fake, pki.client_context(), hostname=hostname)
    assert not any(entry[0] == "auth" for entry in fake.log), fake.log


@pytest.mark.asyncio
async def test_a_proxy_without_a_client_certificate_is_refused_by_a_verifying_host(pki):
    fake = VeNCryptServer(pki.server_context())
    with pytest.raises((rfb.HandshakeFailed, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError)):
        await _connect(fake, pki.client_context(with_cert=False))
    assert not any(entry[0] in ("auth", "client") for entry in fake.log), fake.log


@pytest.mark.asyncio
async def test_without_tls_configured_a_tls_only_host_is_refused_with_what_to_set(pki):
    fake = VeNCryptServer(pki.server_context())
    with pytest.raises(rfb.HandshakeFailed, match="wants TLS .* set NUBES_VNC_TLS_CA"):
        await _connect(fake, None)


def test_tls_context_comes_from_the_settings(pki):
    with override_settings(NUBES_VNC_TLS_CA=""):
        assert console.tls_context() is None
    with override_settings(
        NUBES_VNC_TLS_CA=pki.ca, NUBES_VNC_TLS_CERT=pki.paths["proxy"][0], NUBES_VNC_TLS_KEY=pki.paths["proxy"][1]
    ):
        context = console.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Nubes ca"),),)]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_proxy_reaches_a_tls_host_through_the_websocket_and_the_browser_sees_none(
    alice, project_a, flavor, image, pki
):
    fake = VeNCryptServer(pki.server_context())
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), port))()
    token = await sync_to_async(token_for)(alice, instance)
    tls = dict(
        NUBES_VNC_TLS_CA=pki.ca, NUBES_VNC_TLS_CERT=pki.paths["proxy"][0], NUBES_VNC_TLS_KEY=pki.paths["proxy"][1]
    )
    try:
        with override_settings(**tls):
            comm, connected, _ = await open_vnc(alice, instance, token)
            assert connected
            await browser_handshake(comm)
            await comm.send_to(bytes_data=b"\x01")
            assert await comm.receive_from(timeout=5) == b"echo:\x01"
            await comm.disconnect()
        assert fake.log[:4] == [("type", 19), ("subtype", 261), ("client", "proxy"), ("auth", True)]
        with override_settings(**{**tls, "NUBES_VNC_TLS_CA": pki.paths["rogue"][0]}):
            comm, connected, _ = await open_vnc(alice, instance, token)
            assert connected
            assert "certificate verify failed" in await refused_with(comm)
    finally:
        server.close()
        await server.wait_closed()
