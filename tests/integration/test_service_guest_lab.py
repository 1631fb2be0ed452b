"""The managed database on the lab, ordered the way a tenant does: the lab registered with its
service template (catalog/lab.py), a tenant's OVN network, the PostgreSQL service ordered through
the API onto it (the portal clones lab/service-guest's Debian image, boots it under TCG, attaches
and fills its data volume, binds its port on a chassis) and a client namespace plugged into host
A's br-int as a port of the same network (tests/integration/dbaas_lab.py). The client logs in
with the host's `psql` over OVN as users made through the API: creates a table, writes and reads
rows, a read-only user's INSERT refused. Through the QEMU guest agent (hypervisor.guest_agent):
ping, allow-listed scripts with JSON on stdin, a failing script, the server log read, fsfreeze /
thaw, fstrim, a backup written to a volume of its own and restored from it, configuration
parameters reloaded or restarted and read back with SHOW, the metrics script; the data volume
grown live through the API. A replica added through the API (the other host) follows a steady
write load from the client namespace (each row's lag measured) and is promoted through the API.
One primary and one replica guest for the module; everything removed at the end.

Skipped, with the reason printed, when the lab is not up or the image is not built
(`lab/service-guest/build.sh`, about 14 min once; cached by recipe under /var/cache/nubes).
Prints the figures: order to active, replica lag under the write load."""

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import hypervisor as hv
from hypervisor import guest_agent as ga
from portal.models import Operation
from tests.integration import dbaas_lab, netns
from tests.integration.test_network_lab import module_db  # noqa: F401 (the module's database)

WORK = Path("/var/lib/nubes-lab/dbaas-test")
URI = "qemu:///system"
BOOT_LIMIT_S = 600  # catalog.tasks.AGENT_WAIT_S: a loaded 2-core machine; the figure printed is what counts
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


NET_CIDR = "10.251.77.0/24"  # the tenant's OVN network (the lab's NB is shared: a random tunnel key)
LAG_ROWS, LAG_PERIOD_S = 200, 0.1  # the steady write load the replica follows: 20 s, a row every 100 ms


@pytest.fixture(scope="module")
def dbcloud(lab, module_db):
    """The lab registered with its service template, a tenant, its OVN network and a client
    namespace on it (tests/integration/dbaas_lab.py); everything removed at the end."""
    with pytest.MonkeyPatch.context() as mp:
        cloud = None
        try:
            cloud = dbaas_lab.DbCloud(lab, mp, NET_CIDR)
            if cloud.template is None:
                pytest.skip(cloud.made.get("service_note") or "no service template registered")
            cloud.make_network()
            yield cloud
        finally:
            if cloud is not None:
                cloud.cleanup()
            shutil.rmtree(WORK, ignore_errors=True)


@pytest.fixture(scope="module")
def db_guest(dbcloud):
    """The database ordered through the API on the tenant's network (guest, data volume, port by
    the portal); its Guest, once the client namespace reaches its port 5432 over OVN."""
    started = time.monotonic()
    guest, op = dbcloud.order(f"itdb-{dbcloud.sfx}")
    ready_s = time.monotonic() - started
    netns.eventually(lambda: dbcloud.client.reaches(guest.address, 5432), 120, f"{guest.address}:5432 over OVN")
    detail = op.detail
    print(
        f"\nordered through the API: active after {ready_s:.1f} s (clone, TCG boot, agent, data moved onto its "
        f"volume in {detail.get('data_volume_s')} s), QEMU CPU {_qemu_cpu_s(guest):.1f} s, on "
        f"{guest.service.instance.host.name} at {guest.address}, load average {os.getloadavg()[0]:.1f}; "
        f"{_shares(op)}"
    )
    return guest


def _shares(op):
    """The order's time split at the domain's start: the portal's share before it (placement,
    clone, port, define, start) and the guest's after it (TCG boot to the agent and PostgreSQL
    answering, the data move left out): the README's KVM estimate replaces the guest's share."""
    built = Operation.objects.filter(pk=op.detail.get("instance_operation")).first()
    if built is None or not (op.finished and built.finished):
        return "no split (the instance's Operation has no times)"
    portal_s = (built.finished - op.created).total_seconds()
    guest_s = (op.finished - built.finished).total_seconds() - float(op.detail.get("data_volume_s") or 0)
    return f"until the domain ran {portal_s:.1f} s, the guest's boot to PostgreSQL answering {guest_s:.1f} s"


def _qemu_cpu_s(guest):
    """CPU seconds the guest's QEMU process used (host A's only: host B's run in its namespace)."""
    pid_file = Path(f"/run/libvirt/qemu/{guest.service.instance.domain_name}.pid")
    try:
        fields = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _act(dbcloud, guest, action, arguments):
    """One of the template's actions through the API, as the tenant; its ended Operation."""
    return dbcloud.post(f"services/{guest.service.pk}/run/", {"action": action, "arguments": arguments})


def test_the_agent_answers_and_postgres_accepts(db_guest):
    hv.guest_ping(*db_guest.at)
    info = hv.guest_info(*db_guest.at)
    enabled = {c["name"] for c in info["supported_commands"] if c["enabled"]}
    assert {"guest-exec", "guest-exec-status", "guest-file-read", "guest-fstrim"} <= enabled
    result = hv.run_script(*db_guest.at, "health", {}, allowed=ALLOWED)
    assert result.exit_code == 0 and result.output["postgres"] == "accepting"


def test_allowed_scripts_create_a_database_and_a_user(db_guest):
    # Shell metacharacters in a password are data: JSON on stdin, quoted by the script for SQL.
    password = 'pa\'ss; $(reboot) "x"'
    hv.run_script(*db_guest.at, "user-create", {"name": "app_owner", "password": password}, allowed=ALLOWED)
    created = hv.run_script(*db_guest.at, "db-create", {"name": "app", "owner": "app_owner"}, allowed=ALLOWED)
    assert created.output == {"created": "app"}
    databases = hv.run_script(*db_guest.at, "db-list", {}, allowed=ALLOWED).output["databases"]
    assert {"name": "app", "owner": "app_owner"} in [{k: d[k] for k in ("name", "owner")} for d in databases]
    users = hv.run_script(*db_guest.at, "user-list", {}, allowed=ALLOWED).output["users"]
    assert "app_owner" in [u["name"] for u in users]
    print(f"\ndb-create took {created.duration_s:.1f} s through the agent")


def test_a_client_on_the_tenant_network_uses_psql_as_users_made_through_the_api(dbcloud, db_guest):
    """Users, a database and a grant made through the API (the template's actions, each an
    Operation); the client namespace logs in over OVN to the database's port address."""
    _act(dbcloud, db_guest, "user-create", {"name": "orders_rw", "password": "orders-pass-1"})
    _act(dbcloud, db_guest, "user-create", {"name": "orders_ro", "password": "orders-pass-2"})
    _act(dbcloud, db_guest, "db-create", {"name": "orders", "owner": "orders_rw"})
    _act(dbcloud, db_guest, "db-grant", {"database": "orders", "user": "orders_ro", "access": "read-only"})
    made = (
        "CREATE TABLE line (n int PRIMARY KEY, what text);"
        " INSERT INTO line VALUES (1, 'one'), (2, 'two'), (3, 'three');"
        " SELECT string_agg(what, ',' ORDER BY n) FROM line;"
    )
    assert db_guest.psql("orders_rw", "orders-pass-1", "orders", made) == (0, "one,two,three")
    assert db_guest.psql("orders_ro", "orders-pass-2", "orders", "SELECT count(*) FROM line;") == (0, "3")
    code, out = db_guest.psql("orders_ro", "orders-pass-2", "orders", "INSERT INTO line VALUES (4, 'four');")
    assert code != 0 and "permission denied for table line" in out, out
    # The server saw the client's own address (its OVN port), not a gateway's.
    seen = db_guest.psql("orders_rw", "orders-pass-1", "orders", "SELECT host(inet_client_addr());")
    assert seen == (0, dbcloud.client.probe.ip)
    # An unknown action is a 400 from the API and nothing runs in the guest.
    refused = dbcloud.api.post(
        f"/api/v1/services/{db_guest.service.pk}/run/", {"action": "db-drop-everything", "arguments": {}}, format="json"
    )
    assert refused.status_code == 400 and "Unknown action" in refused.content.decode(), refused.content


def test_a_failing_script_reports_its_exit_code_and_reason(db_guest):
    with pytest.raises(hv.GuestScriptFailed) as failed:
        hv.run_script(*db_guest.at, "db-create", {"name": "Bad Name; DROP"}, allowed=ALLOWED)
    assert failed.value.result.exit_code == 2 and "must match" in str(failed.value)
    with pytest.raises(hv.GuestScriptFailed, match="already exists"):
        hv.run_script(*db_guest.at, "db-create", {"name": "app2"}, allowed=ALLOWED)
        hv.run_script(*db_guest.at, "db-create", {"name": "app2"}, allowed=ALLOWED)


def test_grants_decide_what_a_user_may_do_when_it_logs_in(db_guest):
    run = lambda script, args: hv.run_script(*db_guest.at, script, args, allowed=ALLOWED)  # noqa: E731
    run("user-create", {"name": "shop_owner", "password": "owner-pass-1"})
    run("user-create", {"name": "shop_reader", "password": "reader-pass-1"})
    run("user-create", {"name": "shop_writer", "password": "writer-pass-1"})
    run("db-create", {"name": "shop", "owner": "shop_owner"})
    code, out = db_guest.psql(
        "shop_owner", "owner-pass-1", "shop", "CREATE TABLE item (n int); INSERT INTO item VALUES (1);"
    )
    assert code == 0, out
    # No grant yet: db-create revoked PUBLIC's CONNECT, so the user cannot even connect.
    code, out = db_guest.psql("shop_reader", "reader-pass-1", "shop", "SELECT 1;")
    assert code != 0 and 'permission denied for database "shop"' in out, out
    run("db-grant", {"database": "shop", "user": "shop_reader", "access": "read-only"})
    run("db-grant", {"database": "shop", "user": "shop_writer", "access": "read-write"})
    assert db_guest.psql("shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM item;") == (0, "1")
    code, out = db_guest.psql("shop_reader", "reader-pass-1", "shop", "INSERT INTO item VALUES (2);")
    assert code != 0 and "permission denied" in out
    assert db_guest.psql("shop_writer", "writer-pass-1", "shop", "INSERT INTO item VALUES (3);")[0] == 0
    # A table the owner makes later is covered by the default privileges.
    db_guest.psql("shop_owner", "owner-pass-1", "shop", "CREATE TABLE later (n int);")
    assert db_guest.psql("shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM later;") == (0, "0")
    run("db-grant", {"database": "shop", "user": "shop_reader", "access": "none"})
    code, out = db_guest.psql("shop_reader", "reader-pass-1", "shop", "SELECT count(*) FROM item;")
    assert code != 0 and 'permission denied for database "shop"' in out, out


def test_a_rotated_password_replaces_the_old_one(db_guest):
    hv.run_script(*db_guest.at, "user-create", {"name": "rotating", "password": "first-pass-1"}, allowed=ALLOWED)
    assert db_guest.psql("rotating", "first-pass-1", "postgres", "SELECT 1;") == (0, "1")
    hv.run_script(*db_guest.at, "user-password", {"name": "rotating", "password": "second-pass-2"}, allowed=ALLOWED)
    code, out = db_guest.psql("rotating", "first-pass-1", "postgres", "SELECT 1;")
    assert code != 0 and "password authentication failed" in out
    assert db_guest.psql("rotating", "second-pass-2", "postgres", "SELECT 1;") == (0, "1")
    with pytest.raises(hv.GuestScriptFailed, match="no user"):
        hv.run_script(*db_guest.at, "user-password", {"name": "nobody", "password": "whatever-1"}, allowed=ALLOWED)


def test_the_data_lives_on_the_data_volume_ordered_with_it(db_guest):
    """The order made a data volume in the pool (storage), attached it and moved the data there."""
    volume = db_guest.service.data_volume
    assert volume is not None and volume.instance_id == db_guest.service.instance_id
    assert _attached(db_guest, volume.target_dev)
    again = hv.run_script(*db_guest.at, "data-volume", {}, allowed=ALLOWED, timeout=600)
    assert again.output["moved"] is False and again.output["device"] == f"/dev/{volume.target_dev}"
    assert again.output["size_bytes"] == volume.size_gb * 1024**3
    assert hv.run_script(*db_guest.at, "health", {}, allowed=ALLOWED).output["postgres"] == "accepting"


def _attached(guest, target):
    listed = subprocess.run(["virsh", "-c", guest.uri, "domblklist", guest.id], capture_output=True, text=True).stdout
    return any(line.split()[:1] == [target] for line in listed.splitlines())


def test_the_data_volume_grows_live_through_the_api(dbcloud, db_guest):
    volume = db_guest.service.data_volume
    size_gb = volume.size_gb + 1
    op = dbcloud.post(f"services/{db_guest.service.pk}/grow/", {"data_volume_gb": size_gb})
    grown = _until(
        "the grown disk seen by the guest",
        lambda: _grown(hv.run_script(*db_guest.at, "data-grow", {}, allowed=ALLOWED, timeout=600), size_gb),
        60,
    )
    assert grown.output["filesystem_bytes"] > (size_gb - 0.5) * 1024**3
    assert hv.run_script(*db_guest.at, "health", {}, allowed=ALLOWED).output["postgres"] == "accepting"
    print(f"\nservice.grow to {size_gb} GiB: {op.message}; the guest reports {grown.output}")


def _grown(result, size_gb):
    if result.output["size_bytes"] < size_gb * 1024**3:
        raise ga.GuestAgentTimeout("the guest does not see the new size yet")
    return result


def _guest_disks(guest):
    """The guest's own view of its disks (/sys/block's vd* entries), through a raw guest-exec."""
    listing = {"path": "/bin/ls", "arg": ["/sys/block"], "capture-output": True}
    pid = ga.agent_command(*guest.at, "guest-exec", listing)["pid"]
    for _ in range(100):
        result = ga.exec_result(ga.agent_command(*guest.at, "guest-exec-status", {"pid": pid}))
        if result is not None:
            return sorted(name for name in result.stdout.split() if name.startswith("vd"))
        time.sleep(0.2)
    raise ga.GuestAgentTimeout("ls /sys/block did not finish")


def _swap_disk(guest, path, target="vdc"):
    """Attach ``path`` at ``target`` (None: detach it), waiting until the guest sees the change."""
    before = _guest_disks(guest)
    if path is None:
        hv.disk_detach(*guest.at, target)
    else:
        hv.disk_attach(*guest.at, hv.DiskSpec(target_dev=target, path=str(path), format="qcow2"))
    deadline = time.monotonic() + 120
    while _guest_disks(guest) == before:
        if time.monotonic() > deadline:
            pytest.fail(f"the guest did not see {target} {'detached' if path is None else 'attached'} in 120 s")
        time.sleep(1)


def test_a_backup_on_its_own_volume_restores_the_rows_users_and_grants(db_guest):
    """backup-dump onto a blank volume attached for it (after the data volume's test: never onto
    the root or the data disk), detached; then the restore half as on a new server (the backup's
    databases and roles dropped here first, so the guest holds none of them) from the volume
    attached again: the rows, the owner's password and the reader's read-only grant are back."""
    run = lambda script, args, **kw: hv.run_script(*db_guest.at, script, args, allowed=ALLOWED, **kw)  # noqa: E731
    run("user-create", {"name": "ledger_owner", "password": "ledger-pass-1"})
    run("user-create", {"name": "ledger_reader", "password": "reader-pass-2"})
    run("db-create", {"name": "ledger", "owner": "ledger_owner"})
    rows = 200_000
    fill = (
        "CREATE TABLE entry (n int PRIMARY KEY, note text);"
        f" INSERT INTO entry SELECT g, md5(g::text) FROM generate_series(1, {rows}) g;"
    )
    assert db_guest.psql("ledger_owner", "ledger-pass-1", "ledger", fill)[0] == 0
    run("db-grant", {"database": "ledger", "user": "ledger_reader", "access": "read-only"})
    WORK.mkdir(parents=True, exist_ok=True)  # the module fixture removes it
    backup_disk = WORK / f"nubes-dbaas-{db_guest.id[:8]}-backup.qcow2"
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
            hv.disk_detach(*db_guest.at, "vdc")
        backup_disk.unlink(missing_ok=True)
    assert "ledger" in restored.output["databases"]
    assert db_guest.psql("ledger_owner", "ledger-pass-1", "ledger", "SELECT count(*) FROM entry;") == (0, str(rows))
    assert db_guest.psql("ledger_reader", "reader-pass-2", "ledger", "SELECT note FROM entry WHERE n = 1;") == (
        0,
        "c4ca4238a0b923820dcc509a6f75849b",
    )
    code, out = db_guest.psql("ledger_reader", "reader-pass-2", "ledger", "DELETE FROM entry;")
    assert code != 0 and "permission denied" in out
    # PUBLIC's CONNECT stayed revoked through the dump: a user without a grant cannot connect.
    run("user-create", {"name": "outsider", "password": "outsider-1"})
    code, out = db_guest.psql("outsider", "outsider-1", "ledger", "SELECT 1;")
    assert code != 0 and 'permission denied for database "ledger"' in out, out


def test_a_script_off_the_allow_list_never_reaches_the_guest(db_guest):
    with pytest.raises(hv.InvalidConfig, match="not allowed"):
        hv.run_script(*db_guest.at, "db-drop-everything", {}, allowed=ALLOWED)


def test_the_server_log_is_read_through_the_agent(db_guest):
    chunk = hv.guest_file_read(*db_guest.at, PG_LOG, allowed_prefixes=["/var/log/postgresql"], offset=-8192)
    assert b"ready to accept connections" in chunk.data and chunk.eof
    with pytest.raises(hv.InvalidConfig):
        hv.guest_file_read(*db_guest.at, "/etc/shadow", allowed_prefixes=["/var/log/postgresql"])


def test_fsfreeze_thaw_and_fstrim_through_the_agent(db_guest):
    try:
        assert hv.guest_fsfreeze(*db_guest.at) >= 1
        assert hv.guest_fsfreeze_status(*db_guest.at) == "frozen"
    finally:
        hv.guest_fsthaw(*db_guest.at)
    assert hv.guest_fsfreeze_status(*db_guest.at) == "thawed"
    trimmed = hv.guest_fstrim(*db_guest.at)
    assert any(p.get("path") == "/" and "error" not in p for p in trimmed.paths), trimmed.paths
    hv.run_script(*db_guest.at, "health", {}, allowed=ALLOWED)  # still serving after the thaw


def test_configuration_is_reloaded_or_restarted_and_show_reads_it_back(db_guest):
    run = lambda script, args: hv.run_script(*db_guest.at, script, args, allowed=ALLOWED, timeout=600)  # noqa: E731
    run("user-create", {"name": "cfg_reader", "password": "cfg-pass-1"})
    reloaded = run("config-set", {"work_mem": 8, "log_min_duration_statement": 250})
    assert reloaded.output["reloaded"] is True and reloaded.output["restarted"] is False
    # A new session (over TCP, as a client) sees the reloaded value.
    assert db_guest.psql("cfg_reader", "cfg-pass-1", "postgres", "SHOW work_mem;") == (0, "8MB")
    uptime = run("health", {}).output["uptime_s"]
    restarted = run("config-set", {"max_connections": 120})
    assert restarted.output["restarted"] is True and restarted.output["restart_for"] == ["max_connections"]
    assert run("health", {}).output["uptime_s"] < uptime  # the server started again
    assert db_guest.psql("cfg_reader", "cfg-pass-1", "postgres", "SHOW max_connections;") == (0, "120")
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
    run = lambda script, args: hv.run_script(*db_guest.at, script, args, allowed=ALLOWED)  # noqa: E731
    run("db-create", {"name": "metered", "owner": "cfg_reader"})
    first = run("metrics", {}).output
    for _ in range(3):
        assert db_guest.psql("cfg_reader", "cfg-pass-1", "metered", "SELECT 1;")[0] == 0
    second = run("metrics", {}).output
    assert second["xact_total"] >= first["xact_total"] + 3
    assert second["size_bytes"] > 0 and second["max_connections"] == 120 and second["connections"] >= 0
    metered = next(d for d in second["databases"] if d["name"] == "metered")
    assert metered["size_bytes"] > 0 and metered["xact_total"] >= 3
    assert second["started"] == first["started"]


def test_a_replica_added_through_the_api_follows_a_steady_write_load_and_is_promoted(dbcloud, db_guest):
    """POST .../replicas/ (the portal's add_replica: a second guest on the other host, the
    replication-allow and replica-setup hooks), rows written from the client namespace on the
    primary read back there on the replica, then POST .../promote/."""
    primary = db_guest
    _act(dbcloud, primary, "user-create", {"name": "repl_app", "password": "repl-pass-1"})
    _act(dbcloud, primary, "db-create", {"name": "repl", "owner": "repl_app"})
    table = "CREATE TABLE t (n int PRIMARY KEY, at timestamptz);"
    assert primary.psql("repl_app", "repl-pass-1", "repl", table)[0] == 0
    started = time.monotonic()
    replica, op = dbcloud.add_replica(primary, f"itdb-r-{dbcloud.sfx}")
    added_s = time.monotonic() - started
    assert replica.service.replica_of_id == primary.service.pk
    assert replica.service.instance.host_id != primary.service.instance.host_id  # anti-affinity
    status = _until("the replica streaming", lambda: _streaming(replica), 120)
    assert status["role"] == "replica" and status["primary"] == primary.address
    netns.eventually(lambda: dbcloud.client.reaches(replica.address, 5432), 120, f"{replica.address}:5432 over OVN")
    # The replica holds what the primary had (users, databases: the whole cluster) and refuses writes.
    assert replica.psql("repl_app", "repl-pass-1", "repl", "SELECT count(*) FROM t;") == (0, "0")
    code, out = replica.psql("repl_app", "repl-pass-1", "repl", "INSERT INTO t VALUES (0, now());")
    assert code != 0 and "read-only transaction" in out, out
    # The steady write load: a row every 100 ms for 20 s on the primary, the replica polled.
    load = dbcloud.client.replication_lag(
        primary.address, replica.address, "repl_app", "repl-pass-1", "repl", "t", LAG_ROWS, LAG_PERIOD_S
    )
    assert load["missing"] == [], f"rows never seen on the replica: {load['missing'][:20]}"
    assert replica.psql("repl_app", "repl-pass-1", "repl", "SELECT count(*) FROM t;") == (0, str(LAG_ROWS))
    upstream = _script(primary, "replica-status").output
    assert upstream["role"] == "primary" and [r["address"] for r in upstream["replicas"]] == [replica.address]
    assert upstream["replicas"][0]["state"] == "streaming"
    reported = _script(replica, "replica-status").output
    promoted = dbcloud.post(f"services/{replica.service.pk}/promote/", {})
    replica.service.refresh_from_db()
    assert replica.service.replica_of_id is None
    assert _script(replica, "replica-status").output["role"] == "primary"
    assert replica.psql("repl_app", "repl-pass-1", "repl", "INSERT INTO t VALUES (0, now());")[0] == 0
    assert replica.psql("repl_app", "repl-pass-1", "repl", "SELECT count(*) FROM t;") == (0, str(LAG_ROWS + 1))
    lags, writes = sorted(load["lags"]), sorted(load["write_s"])
    print(
        f"\nreplica through the API: active and streaming after {added_s:.1f} s on "
        f"{replica.service.instance.host.name} ({op.message}); under a steady write load from the client "
        f"namespace ({LAG_ROWS} rows, one every {LAG_PERIOD_S * 1000:.0f} ms, INSERT p50 "
        f"{writes[len(writes) // 2] * 1000:.0f} ms) each row was on the replica p50 "
        f"{lags[len(lags) // 2] * 1000:.0f} ms, p90 {lags[int(len(lags) * 0.9)] * 1000:.0f} ms, max "
        f"{lags[-1] * 1000:.0f} ms after the primary's commit; replica-status lag {reported['lag_s']:.2f} s, "
        f"{reported['lag_bytes']} bytes; promoted through the API ({promoted.message}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def _script(guest, script):
    return hv.run_script(*guest.at, script, {}, allowed=ALLOWED)


def _streaming(guest):
    status = _script(guest, "replica-status").output
    if not status.get("streaming"):
        raise ga.GuestAgentTimeout(f"not streaming yet: {status}")
    return status


def test_a_stopped_agent_is_a_clear_error_not_a_hang(db_guest):
    # Last in the module: it stops the guest's agent (through the agent, the only way in).
    ga.agent_command(*db_guest.at, "guest-exec", {"path": "/bin/sh", "arg": ["-c", "kill $(cat /run/qemu-ga/pid)"]})
    time.sleep(5)
    started = time.monotonic()
    with pytest.raises((ga.GuestAgentUnavailable, ga.GuestAgentTimeout)) as stopped:
        hv.guest_ping(*db_guest.at, timeout=10)
    with pytest.raises((ga.GuestAgentUnavailable, ga.GuestAgentTimeout)):
        hv.run_script(*db_guest.at, "health", {}, allowed=ALLOWED)
    print(f"\nagent stopped: {type(stopped.value).__name__} after {time.monotonic() - started:.1f} s: {stopped.value}")
