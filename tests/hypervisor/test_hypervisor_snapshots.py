import pytest

from hypervisor import (
    NotSupported,
    SnapshotNotFound,
    domain_start,
    domain_state,
    snapshot_create,
    snapshot_delete,
    snapshot_list,
    snapshot_revert,
)
from hypervisor.snapshots import build_snapshot_xml


def test_it_builds_a_chain_and_tracks_the_current_snapshot(host_a, small_domain):
    snapshot_create(host_a, small_domain, "base", "before upgrade")
    second = snapshot_create(host_a, small_domain, "next")
    assert (second.parent, second.current) == ("base", True)
    first, _ = snapshot_list(host_a, small_domain)
    assert (first.name, first.description, first.current) == ("base", "before upgrade", False)


def test_it_reverts_to_the_captured_state(host_a, small_domain):
    snapshot_create(host_a, small_domain, "cold")
    domain_start(host_a, small_domain)
    snapshot_revert(host_a, small_domain, "cold")
    assert domain_state(host_a, small_domain).state == "shutoff"


def test_it_deletes_a_snapshot_with_its_children(host_a, small_domain):
    snapshot_create(host_a, small_domain, "a")
    snapshot_create(host_a, small_domain, "b")
    snapshot_delete(host_a, small_domain, "a", children=True)
    assert snapshot_list(host_a, small_domain) == ()


def test_it_raises_snapshot_not_found(host_a, small_domain):
    with pytest.raises(SnapshotNotFound):
        snapshot_revert(host_a, small_domain, "never")


def test_disk_only_snapshots_are_not_supported_by_the_test_driver(host_a, small_domain):
    with pytest.raises(NotSupported):
        snapshot_create(host_a, small_domain, "ext", disk_only=True)


def test_it_escapes_the_snapshot_name_and_skips_memory_when_asked():
    xml = build_snapshot_xml("<s&>", with_memory=False)
    assert "<name>&lt;s&amp;&gt;</name>" in xml and '<memory snapshot="no"/>' in xml
