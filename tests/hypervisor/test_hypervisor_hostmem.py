"""KSM and swap read from a host's /sys and /proc (a fake tree here) for a local host, KSM's
counters over libvirt for a remote one; KSM's scanning tuned through libvirt on lab host B."""

from pathlib import Path

import pytest

from hypervisor import KSM_RUN, InvalidConfig, NotSupported, host_memory, ksm_set_run, ksm_tune

LOCAL = "qemu:///system"
PAGE = 4096
MEMINFO = """MemTotal:       24684092 kB
MemFree:         1000000 kB
MemAvailable:    2000000 kB
SwapCached:            0 kB
SwapTotal:       8388604 kB
SwapFree:        8000000 kB
"""


@pytest.fixture
def fake_root(tmp_path):
    ksm = tmp_path / "sys" / "kernel" / "mm" / "ksm"
    ksm.mkdir(parents=True)
    files = {
        "run": "1",
        "pages_shared": "250",
        "pages_sharing": "1000",
        "pages_to_scan": "100",
        "sleep_millisecs": "20",
    }
    for name, value in files.items():
        (ksm / name).write_text(f"{value}\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text(MEMINFO)
    return tmp_path


def read(root: Path, uri=LOCAL):
    return host_memory(uri, sys_root=root / "sys", proc_root=root / "proc", page_size=PAGE)


def test_it_reads_ksm_state_savings_and_swap_of_a_local_host(fake_root):
    memory = read(fake_root)
    assert memory.readable and memory.ksm_available and memory.ksm_run == KSM_RUN
    assert (memory.ksm_pages_shared, memory.ksm_pages_sharing) == (250, 1000)
    assert memory.ksm_saved_kib == 1000 * PAGE // 1024
    assert (memory.swap_total_kib, memory.swap_free_kib) == (8388604, 8000000)
    assert (memory.mem_total_kib, memory.mem_available_kib) == (24684092, 2000000)
    assert (memory.ksm_pages_to_scan, memory.ksm_sleep_millisecs, memory.ksm_merge_across_nodes) == (100, 20, None)


def test_a_kernel_without_ksm_still_reports_swap(fake_root):
    for path in (fake_root / "sys" / "kernel" / "mm" / "ksm").iterdir():
        path.unlink()
    memory = read(fake_root)
    assert memory.readable and not memory.ksm_available and memory.ksm_run is None
    assert memory.swap_total_kib == 8388604 and "no KSM" in memory.note


@pytest.mark.parametrize("uri", ["qemu+tcp://127.0.0.1:1/system", "test:///default"])
def test_unreachable_and_simulated_hosts_are_not_readable(fake_root, uri):
    # Nothing listens on port 1; the test driver has no node memory parameters.
    memory = read(fake_root, uri)
    assert not memory.readable and memory.note.startswith("not readable")
    assert memory.ksm_run is None and memory.swap_total_kib is None


def lab_host_b_uri():
    from portal import lab as lab_module

    try:
        return lab_module.load()["hosts"][1]["uri"]
    except lab_module.LabNotUp as exc:
        pytest.skip(f"the lab is not up: {exc}")


@pytest.mark.integration
def test_a_remote_host_is_read_over_libvirt(fake_root):
    """Lab host B (qemu+tcp): KSM's counters and memory from libvirt, run state and swap unknown."""
    uri = lab_host_b_uri()
    memory = read(fake_root, uri)
    if not memory.readable:
        pytest.skip(f"lab host B does not answer: {memory.note}")
    assert memory.ksm_available and memory.ksm_pages_sharing is not None and memory.ksm_saved_kib is not None
    assert memory.mem_total_kib > 0 and 0 < memory.mem_available_kib <= memory.mem_total_kib
    assert memory.ksm_run is None and memory.swap_total_kib is None and "not reported" in memory.note


def test_it_starts_and_stops_ksm_on_a_local_host(fake_root):
    ksm_set_run(LOCAL, 0, sys_root=fake_root / "sys")
    assert (fake_root / "sys/kernel/mm/ksm/run").read_text().strip() == "0"
    assert read(fake_root).ksm_run == 0
    ksm_set_run(LOCAL, 2, sys_root=fake_root / "sys")
    assert read(fake_root).ksm_run == 2


def test_it_rejects_a_bad_run_value_and_remote_hosts(fake_root):
    with pytest.raises(InvalidConfig):
        ksm_set_run(LOCAL, 7, sys_root=fake_root / "sys")
    with pytest.raises(NotSupported, match="no run switch"):
        ksm_set_run("qemu+ssh://root@far/system", 1, sys_root=fake_root / "sys")
    assert (fake_root / "sys/kernel/mm/ksm/run").read_text().strip() == "1"


@pytest.mark.integration
def test_ksm_scanning_is_tuned_on_a_remote_host_through_libvirt(fake_root):
    """Lab host B's libvirtd writes the kernel's KSM files: host B shares this machine's kernel,
    so this machine's /sys shows the value set over qemu+tcp. Restored after."""
    uri, sysfs = lab_host_b_uri(), Path("/sys/kernel/mm/ksm")
    before = {name: int((sysfs / name).read_text()) for name in ("pages_to_scan", "sleep_millisecs")}
    wanted = {"pages_to_scan": before["pages_to_scan"] + 23, "sleep_millisecs": before["sleep_millisecs"] + 7}
    try:
        ksm_tune(uri, wanted)
        assert {name: int((sysfs / name).read_text()) for name in wanted} == wanted
        memory = read(fake_root, uri)
        assert (memory.ksm_pages_to_scan, memory.ksm_sleep_millisecs) == tuple(wanted.values())
    finally:
        ksm_tune(uri, before)
    assert {name: int((sysfs / name).read_text()) for name in before} == before


@pytest.mark.parametrize(
    "tunables", [{}, {"pages_to_scan": -1}, {"sleep_millisecs": 10**6}, {"merge_across_nodes": 2}, {"run": 1}]
)
def test_bad_ksm_settings_are_refused_before_libvirt(tunables):
    with pytest.raises(InvalidConfig):
        ksm_tune("qemu+tcp://127.0.0.1:1/system", tunables)  # nothing listens: never reached


def test_a_simulated_host_has_no_ksm_to_tune():
    with pytest.raises(NotSupported, match="simulated host"):
        ksm_tune("test:///default", {"pages_to_scan": 10})
