"""The guest agent channel: what can be checked without an agent.

libvirt's test driver has no guest agent (virDomainQemuAgentCommand is unsupported there), so
these tests cover the channel in the domain XML, the checks made before anything is sent
(script allow-list, arguments, read paths, timeouts), the decoding of guest-exec-status
answers and the mapping of libvirt's agent errors. Real guest-exec / file-read / fsfreeze /
fstrim round trips run in tests/integration/test_service_guest_lab.py against a real agent.
"""

import base64
import json

import libvirt
import libvirt_qemu
import pytest

from hypervisor import DomainSpec, InvalidConfig, build_domain_xml, domain_define, domain_has_guest_agent
from hypervisor import guest_agent as ga
from hypervisor.connection import lookup_domain
from hypervisor.errors import DomainNotFound

ALLOWED = ("db-create", "db-list", "health")


def test_every_built_domain_has_the_agent_channel_unless_told_not_to(host_a):
    with_agent = domain_define(host_a, build_domain_xml(DomainSpec(name="with-agent", memory_kib=65536)))
    without = domain_define(host_a, build_domain_xml(DomainSpec(name="no-agent", memory_kib=65536, guest_agent=False)))
    assert domain_has_guest_agent(host_a, with_agent)
    assert not domain_has_guest_agent(host_a, without)
    assert '<target type="virtio" name="org.qemu.guest_agent.0"/>' in build_domain_xml(
        DomainSpec(name="x", memory_kib=65536)
    )


def test_a_script_request_carries_the_arguments_as_json_on_stdin_only():
    request = ga.exec_request("db-create", {"name": "app; rm -rf /", "owner": "$(id)"}, ALLOWED)
    assert request["path"] == "/usr/lib/nubes-agent/db-create"
    assert request["arg"] == []  # nothing on a command line, no shell
    assert request["capture-output"] is True
    assert json.loads(base64.b64decode(request["input-data"])) == {"name": "app; rm -rf /", "owner": "$(id)"}


@pytest.mark.parametrize(
    "script",
    ["db-drop", "../bin/sh", "db-create; reboot", "/usr/bin/id", "DB-CREATE", "", "x" * 41, None, "db create"],
)
def test_only_allowed_script_names_are_accepted(script):
    with pytest.raises(InvalidConfig, match="script"):
        ga.exec_request(script, {}, ALLOWED)


def test_an_empty_allow_list_allows_nothing():
    with pytest.raises(InvalidConfig, match="allowed: none"):
        ga.exec_request("health", {}, ())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["not", "an", "object"], "JSON object"),
        ({"n": {1, 2}}, "not JSON"),
        ({"n": float("nan")}, "not JSON"),
        ({"blob": "x" * (ga.MAX_INPUT_BYTES + 1)}, "at most"),
    ],
)
def test_bad_script_arguments_are_refused_before_sending(arguments, message):
    with pytest.raises(InvalidConfig, match=message):
        ga.exec_request("health", arguments, ALLOWED)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_exec_status_is_none_while_the_script_runs():
    assert ga.exec_result({"exited": False}) is None


def test_exec_status_decodes_output_and_json():
    result = ga.exec_result(
        {"exited": True, "exitcode": 0, "out-data": _b64('{"created": "app"}\n'), "err-data": _b64("note\n")}, 0.5
    )
    assert result.exit_code == 0 and result.output == {"created": "app"}
    assert result.stderr == "note\n" and not result.truncated and result.duration_s == 0.5
    plain = ga.exec_result({"exited": True, "exitcode": 0, "out-data": _b64("not json"), "out-truncated": True})
    assert plain.output is None and plain.stdout == "not json" and plain.truncated


def test_a_failed_script_says_why():
    result = ga.exec_result({"exited": True, "exitcode": 2, "out-data": _b64('{"error": "name must match"}')})
    error = ga.GuestScriptFailed("db-create", result, uri="qemu:///system")
    assert "exit code 2" in str(error) and "name must match" in str(error)
    assert isinstance(error, ga.GuestAgentError)
    killed = ga.exec_result({"exited": True, "signal": 9, "err-data": _b64("Killed")})
    assert "signal 9" in str(ga.GuestScriptFailed("health", killed)) and "Killed" in str(
        ga.GuestScriptFailed("health", killed)
    )


def _libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, libvirt.VIR_FROM_QEMU, message, 2, None, None, None, -1, -1)
    return exc


@pytest.mark.parametrize(
    "code, message, expected",
    [
        # libvirt 9.0's own messages (src/qemu/qemu_agent.c, qemu_domain.c)
        (
            libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
            "Guest agent is not responding: QEMU guest agent is not connected",
            ga.GuestAgentUnavailable,
        ),
        (libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED, "QEMU guest agent is not configured", ga.GuestAgentUnavailable),
        (
            libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
            "Guest agent is not responding: Guest agent disappeared while executing command",
            ga.GuestAgentUnavailable,
        ),
        (libvirt.VIR_ERR_AGENT_UNSYNCED, "Guest agent returned ID: 2 instead of 1", ga.GuestAgentUnavailable),
        (
            libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
            "Guest agent is not responding: Guest agent not available for now",
            ga.GuestAgentTimeout,
        ),
        (
            libvirt.VIR_ERR_INTERNAL_ERROR,
            "internal error: unable to execute QEMU agent command 'guest-file-open': No such file or directory",
            ga.GuestCommandFailed,
        ),
        (libvirt.VIR_ERR_NO_DOMAIN, "Domain not found", DomainNotFound),
    ],
)
def test_libvirt_agent_errors_map_to_typed_errors(code, message, expected):
    error = ga.agent_error(_libvirt_error(code, message), "qemu:///system")
    assert type(error) is expected and error.code == code and error.uri == "qemu:///system"


def test_the_test_drivers_real_refusal_maps_to_unavailable():
    # A real libvirt error, not a made-up one: the test driver has no agent command at all.
    dom = lookup_domain("test:///default", "6695eb01-f6a4-8304-79aa-97f2502e193f")
    with pytest.raises(libvirt.libvirtError) as raised:
        libvirt_qemu.qemuAgentCommand(dom, '{"execute": "guest-ping"}', 5, 0)
    error = ga.agent_error(raised.value, "test:///default")
    assert isinstance(error, ga.GuestAgentUnavailable) and "cannot reach a guest agent" in str(error)


def test_the_agent_is_unavailable_on_a_simulated_host(host_a, small_domain):
    with pytest.raises(ga.GuestAgentUnavailable, match="simulated"):
        ga.guest_ping(host_a, small_domain)
    with pytest.raises(ga.GuestAgentUnavailable):
        ga.run_script(host_a, small_domain, "health", {}, allowed=ALLOWED)
    # The allow-list is checked before the host is even asked.
    with pytest.raises(InvalidConfig):
        ga.run_script(host_a, small_domain, "rm", {}, allowed=ALLOWED)


@pytest.mark.parametrize("timeout", [0, -1, 1.5, None])
def test_a_timeout_is_whole_seconds(host_a, small_domain, timeout):
    with pytest.raises(InvalidConfig, match="timeout"):
        ga.guest_ping(host_a, small_domain, timeout=timeout)


@pytest.mark.parametrize(
    "path",
    [
        "/var/log/postgresql/../../../etc/shadow",
        "var/log/postgresql/x.log",
        "/var/log/postgresql-evil/x.log",
        "/etc/shadow",
        "/var/log/postgresql//x.log",
        "/var/log/postgresql/x\x00.log",
        "/var/log/postgresql",
    ],
)
def test_file_reads_stay_under_the_allowed_directories(path):
    with pytest.raises(InvalidConfig):
        ga.check_read_path(path, ["/var/log/postgresql"])


def test_a_log_under_an_allowed_directory_may_be_read(host_a, small_domain):
    assert ga.check_read_path("/var/log/postgresql/postgresql-15-main.log", ["/var/log/postgresql/"])
    with pytest.raises(InvalidConfig, match="max_bytes"):
        ga.guest_file_read(host_a, small_domain, "/var/log/x.log", allowed_prefixes=["/var/log"], max_bytes=0)
