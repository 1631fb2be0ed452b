"""Network namespaces the network tests make and plug into host A's br-int as OVN ports (the
guests cannot be logged into, so traffic is sent from here), and the NB rows the portal made,
read with ovn-nbctl (a client that is not Nubes). Everything made here is named by the caller
and removed by name."""

import json
import re
import subprocess
import sys
import time
import uuid

CMD_TIMEOUT_S = 30
APPEAR_S = 10
POLL_S = 0.5
INTEGRATION_BRIDGE = "br-int"
NB_ROOT_TABLES = ("Logical_Switch", "Logical_Router", "DHCP_Options", "Port_Group", "Load_Balancer")
NB_ID_KEY = "nubes:id"


def run(*args, check=True, timeout=CMD_TIMEOUT_S, netns=None):
    argv = [str(a) for a in args]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr or result.stdout}")
    return result


class Probe:
    """A namespace whose veth is an OVS port on host A's br-int with external_ids:iface-id =
    a portal port's OVN name, so ovn-controller binds it like a VM NIC. With slaac=True the
    kernel configures IPv6 itself from router advertisements, as a guest would."""

    def __init__(self, tag, port, prefix_len, gateway=None, slaac=False):
        short = uuid.uuid4().hex[:6]
        self.netns = f"nubes-it-{tag}-{short}"
        self.outer, self.inner = f"nit{short}o", f"nit{short}i"  # interface names: at most 15 characters
        self.port = port
        self.ip = port["fixed_ips"][0]["ip_address"]
        self.prefix_len, self.gateway, self.slaac = prefix_len, gateway, slaac

    def up(self):
        run("ip", "netns", "add", self.netns)
        run("ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        run("ip", "link", "set", self.inner, "netns", self.netns)
        ns = ["ip", "-n", self.netns]
        run(*ns, "link", "set", self.inner, "address", self.port["mac_address"])
        if self.slaac:
            self.accept_ra()
        else:
            run(*ns, "addr", "add", f"{self.ip}/{self.prefix_len}", "dev", self.inner)
        run(*ns, "link", "set", "lo", "up")
        run(*ns, "link", "set", self.inner, "up")
        if self.gateway:
            run(*ns, "route", "add", "default", "via", self.gateway)
        run("ip", "link", "set", self.outer, "up")
        # OVS's userspace datapath leaves checksums to the sender (REALITY.md): compute them here.
        run("ethtool", "-K", self.outer, "tx", "off")
        run("ethtool", "-K", self.inner, "tx", "off", netns=self.netns)
        run(
            "ovs-vsctl",
            "--timeout=20",
            "add-port",
            INTEGRATION_BRIDGE,
            self.outer,
            "--",
            "set",
            "interface",
            self.outer,
            f"external_ids:iface-id={self.port['interface_id']}",
        )
        return self

    def down(self):
        run("ovs-vsctl", "--timeout=20", "--if-exists", "del-port", INTEGRATION_BRIDGE, self.outer, check=False)
        if run("ip", "link", "show", self.outer, check=False).returncode == 0:
            run("ip", "link", "del", self.outer)
        if self.netns in run("ip", "netns", "list").stdout.split():
            run("ip", "netns", "del", self.netns)

    def accept_ra(self):
        """SLAAC on: take RAs (no forwarding here), make addresses, EUI-64 ones as IPAM expects."""
        for key, value in (
            ("disable_ipv6", 0),
            ("forwarding", 0),
            ("accept_ra", 1),
            ("autoconf", 1),
            ("addr_gen_mode", 0),
        ):
            run("sysctl", "-q", "-w", f"net.ipv6.conf.{self.inner}.{key}={value}", netns=self.netns)

    def solicit(self):
        """Bring the link down and up: the kernel sends router solicitations anew."""
        run("ip", "-n", self.netns, "link", "set", self.inner, "down")
        run("ip", "-n", self.netns, "link", "set", self.inner, "up")

    def ipv6_state(self):
        """(global addresses, default routes) the kernel holds, as `ip` prints them."""
        addresses = run("ip", "-6", "-n", self.netns, "addr", "show", "dev", self.inner, "scope", "global").stdout
        routes = run("ip", "-6", "-n", self.netns, "route", "show", "default").stdout
        return addresses, routes

    def route(self, destination, via):
        run("ip", "-n", self.netns, "route", "add", destination, "via", via)

    def ping(self, address, count=2):
        return ping(address, self.netns, count)

    def tcp(self, address, port):
        return tcp(address, port, self.netns)


def ping(address, netns, count=2):
    """True if `address` answered at least one echo from `netns`."""
    return run("busybox", "ping", "-c", count, "-W", "1", address, check=False, netns=netns).returncode == 0


def tcp(address, port, netns):
    """What the peer said on a TCP connection (the lab guest says its hostname), '' if nothing."""
    return run("busybox", "nc", "-w", "3", address, port, check=False, netns=netns).stdout.strip()


def eventually(check, timeout, what):
    """Poll `check()` until it is true (OVN realises changes asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"not within {timeout} s: {what}")


def wait_for_lease(log_path, timeout):
    """The address/prefix the guest's DHCP client reported on its serial console."""
    found = []

    def leased():
        try:
            with open(log_path, errors="replace") as log:
                found[:] = re.findall(r"nubes-dhcp bound iface=eth0 ip=(\S+)", log.read())
        except FileNotFoundError:
            return False
        return bool(found)

    eventually(leased, timeout, f"a nubes-dhcp line in {log_path}")
    return found[-1]


def nb_rows_of(nb_endpoint, object_ids):
    """{table: [row uuid]} of the root NB rows whose external_ids name one of `object_ids`."""
    wanted, rows = {str(i) for i in object_ids}, {}
    for table in NB_ROOT_TABLES:
        out = run(
            "ovn-nbctl",
            f"--db={nb_endpoint}",
            "--timeout=20",
            "--format=json",
            "--columns=_uuid,external_ids",
            "list",
            table,
        ).stdout
        for row_uuid, external_ids in json.loads(out)["data"]:
            if dict(external_ids[1]).get(NB_ID_KEY) in wanted:
                rows.setdefault(table, []).append(row_uuid[1])
    return rows


def nb_destroy(nb_endpoint, rows):
    for table, uuids in rows.items():
        for row_uuid in uuids:
            run(
                "ovn-nbctl",
                f"--db={nb_endpoint}",
                "--timeout=20",
                "--if-exists",
                "destroy",
                table,
                row_uuid,
                check=False,
            )


# Accepts connections for a while and answers each with the address it came from.
PEER_ECHO = """
import socket, sys, time
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
server.settimeout(1)
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        conn, peer = server.accept()
    except TimeoutError:
        continue
    conn.sendall(peer[0].encode() + b"\\n")
    conn.close()
"""
PEER_ECHO_LIFETIME_S = 120


def peer_echo_server(netns, address, port):
    """A server in `netns` that tells each TCP client its source address (what NAT made of it);
    stop it with stop(). Its output goes nowhere (a held pipe would hang the caller)."""
    process = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PEER_ECHO, address, str(port), str(PEER_ECHO_LIFETIME_S)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + APPEAR_S
    while f":{port} " not in run("ip", "netns", "exec", netns, "ss", "-ltn", check=False).stdout:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError(f"the echo server in {netns} did not listen on {port}")
        time.sleep(POLL_S)
    return process


def stop(process):
    """Stop a process this module started, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(CMD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(CMD_TIMEOUT_S)
