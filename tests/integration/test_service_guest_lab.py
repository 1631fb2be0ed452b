"""The service guest on the lab: lab/service-guest's Debian image (qemu-guest-agent, PostgreSQL,
the scripts of /usr/lib/nubes-agent) booted on host A under TCG, driven only through the QEMU
guest agent by the gateway (hypervisor.guest_agent): ping, allow-listed scripts with JSON on
stdin, a failing script, the server log read, fsfreeze / thaw, fstrim, a backup written to a
volume of its own and restored from it, the data volume grown live, configuration parameters
reloaded or restarted and read back with SHOW, the metrics script. One guest for the module.

Skipped, with the reason printed, when the lab is not up or the image is not built
(`lab/service-guest/build.sh`, about 14 min once; cached by recipe under /var/cache/nubes).
Prints the boot figures (wall and QEMU CPU seconds to the agent and to PostgreSQL accepting)."""

import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import hypervisor as hv
from hypervisor import guest_agent as ga
from hypervisor import networks
from portal import lab as lab_module

HERE = Path(__file__).resolve().parents[2]
IMAGE_ENV = HERE / "lab" / "build" / "service-guest" / "image.env"
WORK = Path("/var/lib/nubes-lab/dbaas-test")
URI = "qemu:///system"
BOOT_LIMIT_S = 600  # a loaded 2-core machine; the figure printed is what counts
ALLOWED = (
    "health",
    "db-create",
    "db-list",
    "db-delete",
    "db-grant",
    "user-create",
    "user-list",
    "user-delete",
    "user-password",
    "data-volume",
    "backup-dump",
    "backup-restore",
    "config-set",
    "config-show",
    "metrics",
    "data-grow",
    "replication-allow",
    "replica-setup",
    "replica-status",
    "replica-promote",
)
PG_LOG = "/var/log/postgresql/postgresql-15-main.log"
# The module's first test carries the guest's boot (minutes under TCG on a loaded machine): more
# than the suite's 300 s per test.
pytestmark = [
    pytest.mark.timeout(2 * BOOT_LIMIT_S + 300),
]


def _image():
    if not IMAGE_ENV.exists():
        pytest.skip(f"the service guest image is not built ({IMAGE_ENV} missing): run lab/service-guest/build.sh")
    values = {}
    for line in IMAGE_ENV.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip('"')
    return values


def _qemu_cpu_s(name):
    """CPU seconds the guest's QEMU process used (a figure that does not depend on the load)."""
    pid_file = Path(f"/run/libvirt/qemu/{name}.pid")
    try:
        fields = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _until(what, call, limit_s, serial_log=None):
    deadline, last = time.monotonic() + limit_s, None
    while time.monotonic() < deadline:
        try:
            return call()
        except (ga.GuestAgentUnavailable, ga.GuestAgentTimeout, ga.GuestScriptFailed) as exc:
            last = exc
        time.sleep(1)
    console = Path(serial_log).read_text(errors="replace")[-2000:] if serial_log else ""
    pytest.fail(f"{what} not within {limit_s} s: {last}\nserial console:\n{console}")


def psql_as(domain_id, user, password, database, sql, uri=URI):
    """(exit code, output) of ``sql`` run in the guest by ``user`` logging in over TCP with its
    password (the test's own guest-exec: the way a client would, not a portal script)."""
    pid = ga.agent_command(
        uri,
        domain_id,
        "guest-exec",
        {
            "path": "/usr/bin/psql",
            "arg": ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", user, "-d", database],
            "env": [f"PGPASSWORD={password}", "PATH=/usr/bin:/bin"],
            "input-data": base64.b64encode(sql.encode()).decode(),
            "capture-output": True,
        },
    )["pid"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = ga.exec_result(ga.agent_command(uri, domain_id, "guest-exec-status", {"pid": pid}))
        if result is not None:
            return result.exit_code, (result.stdout + result.stderr).strip()
        time.sleep(0.5)
    pytest.fail(f"psql as {user} did not finish in 120 s")


# An isolated libvirt network (dnsmasq DHCP, fixed addresses) the module's guests share: the
# replica streams from the primary over it, as over a tenant network.
NET_PREFIX = "10.251.77"
PRIMARY_MAC, PRIMARY_IP = "52:54:00:4e:77:0a", f"{NET_PREFIX}.10"
REPLICA_MAC, REPLICA_IP = "52:54:00:4e:77:0b", f"{NET_PREFIX}.11"


@pytest.fixture(scope="module")
def lab_net():
    try:
        lab_module.load()
    except lab_module.LabNotUp as exc:
        pytest.skip(f"the lab is not up: {exc}")
    tag = uuid.uuid4().hex[:6]
    spec = networks.NetworkSpec(
        name=f"nubes-dbnet-{tag}",
        uuid=str(uuid.uuid4()),
        bridge=f"nbdb{tag}",
        address=f"{NET_PREFIX}.1",
        prefix=24,
        dhcp_range=(f"{NET_PREFIX}.100", f"{NET_PREFIX}.200"),
        hosts=(networks.DhcpHost(mac=PRIMARY_MAC, ip=PRIMARY_IP), networks.DhcpHost(mac=REPLICA_MAC, ip=REPLICA_IP)),
    )
    networks.network_ensure(URI, spec)
    try:
        yield spec.name
    finally:
        networks.network_remove(URI, spec.name)


def _boot(image, network, mac, what):
    """Define and start one service guest (an overlay on the image, a NIC on ``network``); wait
    for its agent and PostgreSQL; (domain id, name, agent s, ready s, agent CPU s, ready CPU s, version)."""
    domain_id = str(uuid.uuid4())
    name = f"nubes-dbaas-{domain_id[:8]}"
    WORK.mkdir(parents=True, exist_ok=True)
    overlay = WORK / f"{name}.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image["ROOT"], str(overlay)], check=True
    )
    spec = hv.DomainSpec(
        name=name,
        uuid=domain_id,
        domain_type="qemu",
        memory_kib=1024 * 1024,
        vcpus=1,
        kernel=image["KERNEL"],
        initrd=image["INITRD"],
        cmdline=image["CMDLINE"],
        disks=(hv.DiskSpec(target_dev="vda", path=str(overlay), format="qcow2"),),
        nics=(hv.NicSpec(mac=mac, kind="network", network=network),),
        serial_log_path=str(WORK / f"{name}.log"),
        vnc=False,
    )
    hv.domain_define(URI, hv.build_domain_xml(spec))
    started = time.monotonic()
    hv.domain_start(URI, domain_id)
    _until("the guest agent's answer", lambda: hv.guest_ping(URI, domain_id), BOOT_LIMIT_S, spec.serial_log_path)
    agent_s, agent_cpu = time.monotonic() - started, _qemu_cpu_s(name)
    health = _until(
        "PostgreSQL accepting",
        lambda: hv.run_script(URI, domain_id, "health", {}, allowed=ALLOWED, timeout=60),
        BOOT_LIMIT_S,
        spec.serial_log_path,
    )
    ready_s, ready_cpu = time.monotonic() - started, _qemu_cpu_s(name)
    print(
        f"\n{what} boot under TCG: agent answers after {agent_s:.1f} s (QEMU CPU {agent_cpu:.1f} s), "
        f"PostgreSQL {health.output['version']} accepts after {ready_s:.1f} s (QEMU CPU {ready_cpu:.1f} s), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return domain_id


def _remove(domain_id):
    name = f"nubes-dbaas-{domain_id[:8]}"
    for step in (hv.domain_destroy, hv.domain_undefine):
        try:
            step(URI, domain_id)
        except hv.HypervisorError:
            pass
    for path in (WORK / f"{name}.qcow2", WORK / f"{name}-data.qcow2", WORK / f"{name}.log"):
        path.unlink(missing_ok=True)
    if WORK.exists() and not any(WORK.iterdir()):
        shutil.rmtree(WORK)


@pytest.fixture(scope="module")
def db_guest(lab_net):
    image = _image()
    ids = []
    try:
        ids.append(_boot(image, lab_net, PRIMARY_MAC, "service guest"))
        yield ids[0]
    finally:
        for domain_id in ids:
            _remove(domain_id)


@pytest.fixture(scope="module")
def replica_guest(lab_net, db_guest):
    """A second service guest on the same network: the replica (booted when first needed)."""
    ids = []
    try:
        ids.append(_boot(_image(), lab_net, REPLICA_MAC, "replica guest"))
        yield ids[0]
    finally:
        for domain_id in ids:
            _remove(domain_id)


def test_the_agent_answers_and_postgres_accepts(db_guest):
    hv.guest_ping(URI, db_guest)
    info = hv.guest_info(URI, db_guest)
    enabled = {c["name"] for c in info["supported_commands"] if c["enabled"]}
    assert {"guest-exec", "guest-exec-status", "guest-file-read", "guest-fstrim"} <= enabled
    result = hv.run_script(URI, db_guest, "health", {}, allowed=ALLOWED)
    assert result.exit_code == 0 and result.output["postgres"] == "accepting"


def test_allowed_scripts_create_a_database_and_a_user(db_guest):
    # Shell metacharacters in a password are data: JSON on stdin, quoted by the script for SQL.
    password = 'pa\'ss; $(reboot) "x"'
    hv.run_script(URI, db_guest, "user-create", {"name": "app_owner", "password": password}, allowed=ALLOWED)
    created = hv.run_script(URI, db_guest, "db-create", {"name": "app", "owner": "app_owner"}, allowed=ALLOWED)
    assert created.output == {"created": "app"}
    databases = hv.run_script(URI, db_guest, "db-list", {}, allowed=ALLOWED).output["databases"]
    assert {"name": "app", "owner": "app_owner"} in [{k: d[k] for k in ("name", "owner")} for d in databases]
    users = hv.run_script(URI, db_guest, "user-list", {}, allowed=ALLOWED).output["users"]
    assert "app_owner" in [u["name"] for u in users]
    print(f"\ndb-create took {created.duration_s:.1f} s through the agent")


def test_a_failing_script_reports_its_exit_code_and_reason(db_guest):
    with pytest.raises(hv.GuestScriptFailed) as failed:
        hv.run_script(URI, db_guest, "db-create", {"name": "Bad Name; DROP"}, allowed=ALLOWED)
    assert failed.value.result.exit_code == 2 and "must match" in str(failed.value)
    with pytest.raises(hv.GuestScriptFailed, match="already exists"):
        hv.run_script(URI, db_guest, "db-create", {"name": "app2"}, allowed=ALLOWED)
        hv.run_script(URI, db_guest, "db-create", {"name": "app2"}, allowed=ALLOWED)


def test_grants_decide_what_a_user_may_do_when_it_logs_in(db_guest):
    run = lambda script, args: hv.run_script(URI, db_guest, script, args, allowed=ALLOWED)  # noqa: E731
    run("user-create", {"name": "shop_owner", "password": "owner-pass-1"})
    run("user-create", {"name": "shop_reader", "password": "reader-pass-1"})
    run("user-create", {"name": "shop_writer", "password": "writer-pass-1"})
    run("db-create", {"name": "shop", "owner": "shop_owner"})
    code, out = psql_as(
        db_guest, "shop_owner", "owner-pass-1", "shop", "CREATE TABLE item (n int); INSERT INTO item VALUES (1);"
    )
    assert code == 0, out
    # No grant yet: db-create revoked PUBLIC's CONNECT, so the user cannot even connect.
    code, out = psql_as(db_guest, "shop_reader", "reader-pass-1", "shop", "SELECT 1;")
    assert code != 0 and 'permission denied for database "shop"' in out, out
    run("db-grant", {"database": "shop", "user": "shop_reader", "access": "read-only"})
    run("db-grant", {"database": "shop", "user": "shop_writer", "access": "read-write"})
    assert psql_as(db_guest, "shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM item;") == (0, "1")
    code, out = psql_as(db_guest, "shop_reader", "reader-pass-1", "shop", "INSERT INTO item VALUES (2);")
    assert code != 0 and "permission denied" in out
    assert psql_as(db_guest, "shop_writer", "writer-pass-1", "shop", "INSERT INTO item VALUES (3);")[0] == 0
    # A table the owner makes later is covered by the default privileges.
    psql_as(db_guest, "shop_owner", "owner-pass-1", "shop", "CREATE TABLE later (n int);")
    assert psql_as(db_guest, "shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM later;") == (0, "0")
    run("db-grant", {"database": "shop", "user": "shop_reader", "access": "none"})
    code, out = psql_as(db_guest, "shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM item;")
    assert code != 0 and 'permission denied for database "shop"' in out, out


def test_a_rotated_password_replaces_the_old_one(db_guest):
    hv.run_script(URI, db_guest, "user-create", {"name": "rotating", "password": "first-pass-1"}, allowed=ALLOWED)
    assert psql_as(db_guest, "rotating", "first-pass-1", "postgres", "SELECT 1;") == (0, "1")
    hv.run_script(URI, db_guest, "user-password", {"name": "rotating", "password": "second-pass-2"}, allowed=ALLOWED)
    code, out = psql_as(db_guest, "rotating", "first-pass-1", "postgres", "SELECT 1;")
    assert code != 0 and "password authentication failed" in out
    assert psql_as(db_guest, "rotating", "second-pass-2", "postgres", "SELECT 1;") == (0, "1")
    with pytest.raises(hv.GuestScriptFailed, match="no user"):
        hv.run_script(URI, db_guest, "user-password", {"name": "nobody", "password": "whatever-1"}, allowed=ALLOWED)


def test_the_data_moves_onto_an_attached_data_volume(db_guest):
    data_disk = WORK / f"nubes-dbaas-{db_guest[:8]}-data.qcow2"  # the module fixture removes it
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(data_disk), "2G"], check=True)
    hv.disk_attach(URI, db_guest, hv.DiskSpec(target_dev="vdb", path=str(data_disk), format="qcow2"))
    hv.run_script(URI, db_guest, "db-create", {"name": "before_move"}, allowed=ALLOWED)
    started = time.monotonic()
    moved = _until(
        "the data disk seen by the guest",
        lambda: hv.run_script(URI, db_guest, "data-volume", {}, allowed=ALLOWED, timeout=600),
        120,
    )
    print(f"\ndata-volume moved PostgreSQL's data in {time.monotonic() - started:.1f} s: {moved.output}")
    assert moved.output["device"] == "/dev/vdb" and moved.output["moved"] is True
    assert moved.output["size_bytes"] == 2 * 1024**3
    assert hv.run_script(URI, db_guest, "health", {}, allowed=ALLOWED).output["postgres"] == "accepting"
    names = [d["name"] for d in hv.run_script(URI, db_guest, "db-list", {}, allowed=ALLOWED).output["databases"]]
    assert "before_move" in names
    again = hv.run_script(URI, db_guest, "data-volume", {}, allowed=ALLOWED)
    assert again.output["moved"] is False


def _attached(domain_id, target):
    listed = subprocess.run(["virsh", "-c", URI, "domblklist", domain_id], capture_output=True, text=True).stdout
    return any(line.split()[:1] == [target] for line in listed.splitlines())


def test_the_data_volume_grows_live(db_guest):
    # After the data-volume test: vdb is the 2 GiB data disk with PostgreSQL's data on it.
    if not _attached(db_guest, "vdb"):
        pytest.skip("no data disk attached (the data-volume test did not run)")
    subprocess.run(["virsh", "-c", URI, "blockresize", db_guest, "vdb", "3G"], check=True, capture_output=True)
    grown = _until(
        "the grown disk seen by the guest",
        lambda: _grown(hv.run_script(URI, db_guest, "data-grow", {}, allowed=ALLOWED, timeout=600)),
        60,
    )
    assert grown.output["size_bytes"] == 3 * 1024**3 and grown.output["filesystem_bytes"] > 2.5 * 1024**3
    assert hv.run_script(URI, db_guest, "health", {}, allowed=ALLOWED).output["postgres"] == "accepting"
    print(f"\ndata-grow: {grown.output} in {grown.duration_s:.1f} s through the agent")


def _grown(result):
    if result.output["size_bytes"] < 3 * 1024**3:
        raise ga.GuestAgentTimeout("the guest does not see the new size yet")
    return result


def _guest_disks(domain_id):
    """The guest's own view of its disks (/sys/block's vd* entries), through a raw guest-exec."""
    pid = ga.agent_command(
        URI, domain_id, "guest-exec", {"path": "/bin/ls", "arg": ["/sys/block"], "capture-output": True}
    )["pid"]
    for _ in range(100):
        result = ga.exec_result(ga.agent_command(URI, domain_id, "guest-exec-status", {"pid": pid}))
        if result is not None:
            return sorted(name for name in result.stdout.split() if name.startswith("vd"))
        time.sleep(0.2)
    raise ga.GuestAgentTimeout("ls /sys/block did not finish")


def _swap_disk(domain_id, path, target="vdc"):
    """Attach ``path`` at ``target`` (None: detach it), waiting until the guest sees the change."""
    before = _guest_disks(domain_id)
    if path is None:
        hv.disk_detach(URI, domain_id, target)
    else:
        hv.disk_attach(URI, domain_id, hv.DiskSpec(target_dev=target, path=str(path), format="qcow2"))
    deadline = time.monotonic() + 120
    while _guest_disks(domain_id) == before:
        if time.monotonic() > deadline:
            pytest.fail(f"the guest did not see {target} {'detached' if path is None else 'attached'} in 120 s")
        time.sleep(1)


def test_a_backup_on_its_own_volume_restores_the_rows_users_and_grants(db_guest):
    """backup-dump onto a blank volume attached for it (after the data volume's test: never onto
    the root or the data disk), detached; then the restore half as on a new server (the backup's
    databases and roles dropped here first, so the guest holds none of them) from the volume
    attached again: the rows, the owner's password and the reader's read-only grant are back."""
    run = lambda script, args, **kw: hv.run_script(URI, db_guest, script, args, allowed=ALLOWED, **kw)  # noqa: E731
    run("user-create", {"name": "ledger_owner", "password": "ledger-pass-1"})
    run("user-create", {"name": "ledger_reader", "password": "reader-pass-2"})
    run("db-create", {"name": "ledger", "owner": "ledger_owner"})
    rows = 200_000
    fill = (
        "CREATE TABLE entry (n int PRIMARY KEY, note text);"
        f" INSERT INTO entry SELECT g, md5(g::text) FROM generate_series(1, {rows}) g;"
    )
    assert psql_as(db_guest, "ledger_owner", "ledger-pass-1", "ledger", fill)[0] == 0
    run("db-grant", {"database": "ledger", "user": "ledger_reader", "access": "read-only"})
    backup_disk = WORK / f"nubes-dbaas-{db_guest[:8]}-backup.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(backup_disk), "1G"], check=True)
    try:
        _swap_disk(db_guest, backup_disk)
        dumped = run("backup-dump", {}, timeout=600)
        _swap_disk(db_guest, None)
        ledger = next(d for d in dumped.output["databases"] if d["name"] == "ledger")
        total_mib = dumped.output["size_bytes"] / 2**20
        print(
            f"\nbackup-dump: {len(dumped.output['databases'])} databases of {total_mib:.1f} MiB (ledger "
            f"{ledger['size_bytes'] / 2**20:.1f} MiB, {rows} rows) -> {dumped.output['dump_bytes'] / 2**20:.1f} MiB "
            f"of dumps in {dumped.output['seconds']:.1f} s in the guest ({total_mib / dumped.output['seconds']:.1f} "
            f"MiB/s), {dumped.duration_s:.1f} s through the agent, load {os.getloadavg()[0]:.1f}"
        )
        # Nothing was written to the root or the data disk: the backup volume holds it.
        assert dumped.output["device"] not in ("/dev/vda", "/dev/vdb") and ledger["dump_bytes"] > 0
        with pytest.raises(hv.GuestScriptFailed, match="expected one attached backup volume"):
            run("backup-restore", {})  # detached: nothing to restore from
        for database in [d["name"] for d in dumped.output["databases"]]:
            run("db-delete", {"name": database})
        users = [u["name"] for u in run("user-list", {}).output["users"]]
        for user in users:
            run("user-delete", {"name": user})
        _swap_disk(db_guest, backup_disk)
        restored = run("backup-restore", {}, timeout=600)
        print(
            f"backup-restore: {restored.output['databases']} and {restored.output['roles']} roles in "
            f"{restored.output['seconds']:.1f} s in the guest ({total_mib / restored.output['seconds']:.1f} MiB/s), "
            f"load {os.getloadavg()[0]:.1f}"
        )
        with pytest.raises(hv.GuestScriptFailed, match="restored into a new server"):
            run("backup-restore", {})  # everything is there now: refused, nothing changed
        _swap_disk(db_guest, None)
    finally:
        if _attached(db_guest, "vdc"):
            hv.disk_detach(URI, db_guest, "vdc")
        backup_disk.unlink(missing_ok=True)
    assert "ledger" in restored.output["databases"]
    assert psql_as(db_guest, "ledger_owner", "ledger-pass-1", "ledger", "SELECT count(*) FROM entry;") == (0, str(rows))
    assert psql_as(db_guest, "ledger_reader", "reader-pass-2", "ledger", "SELECT note FROM entry WHERE n = 1;") == (
        0,
        "c4ca4238a0b923820dcc509a6f75849b",
    )
    code, out = psql_as(db_guest, "ledger_reader", "reader-pass-2", "ledger", "DELETE FROM entry;")
    assert code != 0 and "permission denied" in out
    # PUBLIC's CONNECT stayed revoked through the dump: a user without a grant cannot connect.
    run("user-create", {"name": "outsider", "password": "outsider-1"})
    code, out = psql_as(db_guest, "outsider", "outsider-1", "ledger", "SELECT 1;")
    assert code != 0 and 'permission denied for database "ledger"' in out, out


def test_a_script_off_the_allow_list_never_reaches_the_guest(db_guest):
    with pytest.raises(hv.InvalidConfig, match="not allowed"):
        hv.run_script(URI, db_guest, "db-drop-everything", {}, allowed=ALLOWED)


def test_the_server_log_is_read_through_the_agent(db_guest):
    chunk = hv.guest_file_read(URI, db_guest, PG_LOG, allowed_prefixes=["/var/log/postgresql"], offset=-8192)
    assert b"ready to accept connections" in chunk.data and chunk.eof
    with pytest.raises(hv.InvalidConfig):
        hv.guest_file_read(URI, db_guest, "/etc/shadow", allowed_prefixes=["/var/log/postgresql"])


def test_fsfreeze_thaw_and_fstrim_through_the_agent(db_guest):
    try:
        assert hv.guest_fsfreeze(URI, db_guest) >= 1
        assert hv.guest_fsfreeze_status(URI, db_guest) == "frozen"
    finally:
        hv.guest_fsthaw(URI, db_guest)
    assert hv.guest_fsfreeze_status(URI, db_guest) == "thawed"
    trimmed = hv.guest_fstrim(URI, db_guest)
    assert any(p.get("path") == "/" and "error" not in p for p in trimmed.paths), trimmed.paths
    hv.run_script(URI, db_guest, "health", {}, allowed=ALLOWED)  # still serving after the thaw


def test_configuration_is_reloaded_or_restarted_and_show_reads_it_back(db_guest):
    run = lambda script, args: hv.run_script(URI, db_guest, script, args, allowed=ALLOWED, timeout=600)  # noqa: E731
    run("user-create", {"name": "cfg_reader", "password": "cfg-pass-1"})
    reloaded = run("config-set", {"work_mem": 8, "log_min_duration_statement": 250})
    assert reloaded.output["reloaded"] is True and reloaded.output["restarted"] is False
    # A new session (over TCP, as a client) sees the reloaded value.
    assert psql_as(db_guest, "cfg_reader", "cfg-pass-1", "postgres", "SHOW work_mem;") == (0, "8MB")
    uptime = run("health", {}).output["uptime_s"]
    restarted = run("config-set", {"max_connections": 120})
    assert restarted.output["restarted"] is True and restarted.output["restart_for"] == ["max_connections"]
    assert run("health", {}).output["uptime_s"] < uptime  # the server started again
    assert psql_as(db_guest, "cfg_reader", "cfg-pass-1", "postgres", "SHOW max_connections;") == (0, "120")
    shown = {row["name"]: row for row in run("config-show", {}).output["settings"]}
    assert shown["work_mem"]["value"] == "8MB" and shown["log_min_duration_statement"]["value"] == "250ms"
    assert shown["max_connections"]["context"] == "postmaster" and shown["max_connections"]["value"] == "120"
    assert not any(row["pending_restart"] for row in shown.values())
    # The same value again is no restart.
    assert run("config-set", {"max_connections": 120}).output["restarted"] is False
    with pytest.raises(hv.GuestScriptFailed, match="not a parameter") as refused:
        run("config-set", {"fsync": False})
    assert refused.value.result.exit_code == 2
    with pytest.raises(hv.GuestScriptFailed, match="between"):
        run("config-set", {"work_mem": 0})
    print(
        f"\nconfig-set: reload {reloaded.output['seconds']:.1f} s ({reloaded.duration_s:.1f} s through the agent), "
        f"restart {restarted.output['seconds']:.1f} s ({restarted.duration_s:.1f} s through the agent)"
    )


def test_metrics_count_connections_transactions_and_size(db_guest):
    run = lambda script, args: hv.run_script(URI, db_guest, script, args, allowed=ALLOWED)  # noqa: E731
    run("db-create", {"name": "metered", "owner": "cfg_reader"})
    first = run("metrics", {}).output
    for _ in range(3):
        assert psql_as(db_guest, "cfg_reader", "cfg-pass-1", "metered", "SELECT 1;")[0] == 0
    second = run("metrics", {}).output
    assert second["xact_total"] >= first["xact_total"] + 3
    assert second["size_bytes"] > 0 and second["max_connections"] == 120 and second["connections"] >= 0
    metered = next(d for d in second["databases"] if d["name"] == "metered")
    assert metered["size_bytes"] > 0 and metered["xact_total"] >= 3
    assert second["started"] == first["started"]


def test_a_replica_streams_new_rows_within_a_bounded_lag_and_is_promoted(db_guest, replica_guest):
    primary, replica = db_guest, replica_guest
    on = lambda guest, script, args, **kw: hv.run_script(URI, guest, script, args, allowed=ALLOWED, **kw)  # noqa: E731
    on(primary, "user-create", {"name": "repl_app", "password": "repl-pass-1"})
    on(primary, "db-create", {"name": "repl", "owner": "repl_app"})
    assert psql_as(primary, "repl_app", "repl-pass-1", "repl", "CREATE TABLE t (n int, at timestamptz);")[0] == 0
    secret = "repl-secret-'; $(x)"
    allowed = on(primary, "replication-allow", {"address": REPLICA_IP, "password": secret})
    assert allowed.output == {"role": "nubes_replicator", "address": f"{REPLICA_IP}/32"}
    on(primary, "replication-allow", {"address": REPLICA_IP, "password": secret})  # idempotent
    started = time.monotonic()
    setup = on(replica, "replica-setup", {"primary": PRIMARY_IP, "password": secret}, timeout=900)
    setup_s = time.monotonic() - started
    assert setup.output["primary"] == PRIMARY_IP
    status = _until("the replica streaming", lambda: _streaming(replica), 120)
    assert status["role"] == "replica" and status["primary"] == PRIMARY_IP
    # The replica holds what the primary had (users, databases: the whole cluster).
    assert psql_as(replica, "repl_app", "repl-pass-1", "repl", "SELECT count(*) FROM t;") == (0, "0")
    code, out = psql_as(replica, "repl_app", "repl-pass-1", "repl", "INSERT INTO t VALUES (0, now());")
    assert code != 0 and "read-only transaction" in out, out
    # A steady write load: one row a second on the primary, each looked for on the replica.
    lags = []
    for n in range(1, 11):
        assert psql_as(primary, "repl_app", "repl-pass-1", "repl", f"INSERT INTO t VALUES ({n}, now());")[0] == 0
        written = time.monotonic()
        while True:
            code, out = psql_as(replica, "repl_app", "repl-pass-1", "repl", f"SELECT count(*) FROM t WHERE n = {n};")
            if (code, out) == (0, "1"):
                break
            assert time.monotonic() - written < 30, f"row {n} not on the replica within 30 s"
            time.sleep(0.2)
        lags.append(time.monotonic() - written)
    reported = on(replica, "replica-status", {}).output
    upstream = on(primary, "replica-status", {}).output
    assert upstream["role"] == "primary" and [r["address"] for r in upstream["replicas"]] == [REPLICA_IP]
    assert upstream["replicas"][0]["state"] == "streaming"
    promoted = on(replica, "replica-promote", {})
    assert promoted.output["promoted"] is True
    assert on(replica, "replica-status", {}).output["role"] == "primary"
    assert psql_as(replica, "repl_app", "repl-pass-1", "repl", "INSERT INTO t VALUES (99, now());")[0] == 0
    assert psql_as(replica, "repl_app", "repl-pass-1", "repl", "SELECT count(*) FROM t;") == (0, "11")
    with pytest.raises(hv.GuestScriptFailed, match="not a replica"):
        on(replica, "replica-promote", {})
    print(
        f"\nreplica: pg_basebackup -R and start in {setup.output['seconds']:.1f} s in the guest "
        f"({setup_s:.1f} s through the agent, {setup.output['bytes'] / 2**20:.1f} MiB); rows seen on the replica "
        f"{min(lags):.2f}-{max(lags):.2f} s after the primary's commit (median {sorted(lags)[len(lags) // 2]:.2f} s, "
        f"a psql through the agent each under TCG); replica-status lag {reported['lag_s']:.2f} s, "
        f"{reported['lag_bytes']} bytes; promoted in {promoted.output['seconds']:.1f} s"
    )


def _streaming(guest):
    status = hv.run_script(URI, guest, "replica-status", {}, allowed=ALLOWED).output
    if not status.get("streaming"):
        raise ga.GuestAgentTimeout(f"not streaming yet: {status}")
    return status


def test_a_stopped_agent_is_a_clear_error_not_a_hang(db_guest):
    # Last in the module: it stops the guest's agent (through the agent, the only way in).
    ga.agent_command(URI, db_guest, "guest-exec", {"path": "/bin/sh", "arg": ["-c", "kill $(cat /run/qemu-ga/pid)"]})
    time.sleep(5)
    started = time.monotonic()
    with pytest.raises((ga.GuestAgentUnavailable, ga.GuestAgentTimeout)) as stopped:
        hv.guest_ping(URI, db_guest, timeout=10)
    with pytest.raises((ga.GuestAgentUnavailable, ga.GuestAgentTimeout)):
        hv.run_script(URI, db_guest, "health", {}, allowed=ALLOWED)
    print(f"\nagent stopped: {type(stopped.value).__name__} after {time.monotonic() - started:.1f} s: {stopped.value}")
