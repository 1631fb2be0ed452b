"""cloud-init's NoCloud seed: the ISO read back with pycdlib, meta-data golden, the cdrom in the
domain XML, and the seed's life with the instance (a raw volume in the root disk's pool,
written over the libvirt connection, removed on delete)."""

import hashlib
import io
import json
import uuid

import pycdlib
import pytest

import hypervisor as hv
from compute import cloudinit, domain
from compute.models import Cluster, Host, Instance
from compute.tasks import instances as tasks
from portal.errors import ActionError
from portal.models import Operation
from tests.compute.conftest import ED25519_KEY
from tests.compute.test_domain_spec import check_golden, instance_of

FIXED_UUID = uuid.UUID("6c0a5f8e-1d2b-4c3d-9e4f-a1b2c3d4e5f6")
USER_DATA = "#cloud-config\npackages: [nginx]\nruncmd:\n  - echo '<hi> & \"bye\"' > /etc/motd\n"


def test_the_seed_iso_is_labelled_cidata_and_holds_meta_data_and_user_data():
    files = {"meta-data": b'{"instance-id": "iid-1"}\n', "user-data": USER_DATA.encode()}
    label, read_back = cloudinit.read_iso(cloudinit.build_iso(files))
    assert label == "cidata"
    assert read_back == files


def test_the_iso_also_carries_rock_ridge_names_and_a_plain_iso9660_directory():
    data = cloudinit.build_iso({"meta-data": b"a: 1\n", "user-data": b"#cloud-config\n"})
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/user-data")
        assert out.getvalue() == b"#cloud-config\n"
        names = {c.file_identifier().decode() for c in iso.list_children(iso_path="/")}
        assert {"METADATA.;1", "USERDATA.;1"} <= names
    finally:
        iso.close()


def test_it_refuses_files_a_nocloud_seed_does_not_hold():
    with pytest.raises(ValueError, match="vendor-data"):
        cloudinit.build_iso({"vendor-data": b""})


def test_meta_data_matches_the_golden_file():
    text = cloudinit.meta_data(FIXED_UUID, "web-1", [ED25519_KEY])
    check_golden("cloudinit_meta_data.json", text)
    assert json.loads(text)["public-keys"] == [ED25519_KEY]


@pytest.mark.parametrize(
    "name, hostname",
    [
        ("Web 1", "web-1"),
        ("db_<primary> & co", "db-primary-co"),
        ("ÄÖÜ", "instance-7"),
        ("a" * 80, "a" * 63),
    ],
)
def test_instance_names_become_dns_labels(name, hostname):
    assert cloudinit.hostname_of(name, "instance-7") == hostname


def test_a_seeded_instance_gets_a_readonly_sata_cdrom_golden(flavor, image, host_a, project_a):
    instance = instance_of(
        flavor,
        image,
        host_a,
        project_a,
        seed_path="/var/lib/libvirt/images/nubes-6c0a5f8e-1d2b-4c3d-9e4f-a1b2c3d4e5f6-seed.iso",
    )
    xml = hv.build_domain_xml(domain.domain_spec(instance, "/var/lib/libvirt/images/root.qcow2"))
    check_golden("with_seed.xml", xml)
    disks = hv.parse_domain_xml(xml).disks
    assert [(d.target_dev, d.device, d.bus, d.format) for d in disks] == [
        ("vda", "disk", "virtio", "qcow2"),
        ("sda", "cdrom", "sata", "raw"),
    ]


def test_launching_with_a_key_pair_and_user_data_records_the_seed_and_attaches_it(launch, key_pair):
    response, instance = launch(key_pair=key_pair.pk, user_data=USER_DATA)
    assert Operation.objects.get(pk=response.json()["id"]).status == "succeeded"
    instance.refresh_from_db()
    assert instance.seed_path.endswith(f"{instance.domain_name}-seed.iso") and len(instance.seed_sha256) == 64
    root = hv.volume_info(instance.host.uri, "default", instance.root_volume).path
    assert instance.seed_path == cloudinit.seed_path(root, instance.domain_name)
    cdroms = [
        d
        for d in hv.parse_domain_xml(hv.domain_xml(instance.host.uri, str(instance.uuid))).disks
        if d.device == "cdrom"
    ]
    assert [c.source for c in cdroms] == [instance.seed_path]
    _label, files = cloudinit.read_iso(cloudinit.build_seed(instance).data)
    assert files["user-data"].decode() == USER_DATA
    meta = json.loads(files["meta-data"])
    assert meta["public-keys"] == [ED25519_KEY] and meta["instance-id"] == f"iid-{instance.uuid}"
    assert meta["local-hostname"] == "web-1"


def test_an_instance_without_key_or_user_data_gets_no_seed(launch):
    _response, instance = launch()
    instance.refresh_from_db()
    assert instance.seed_path == "" and instance.seed_sha256 == ""
    disks = hv.parse_domain_xml(hv.domain_xml(instance.host.uri, str(instance.uuid))).disks
    assert [d.device for d in disks] == ["disk"]


def real_instance(project, flavor, image, key_pair, uri):
    host = Host.objects.create(name="far", uri=uri, cluster=Cluster.objects.create(name="lab"), simulated=False)
    return Instance.objects.create(
        project=project,
        name="vm",
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        key_pair=key_pair,
    )


def test_the_seed_is_a_volume_in_the_root_disks_pool_holding_the_image(launch, key_pair):
    _response, instance = launch(key_pair=key_pair.pk, user_data=USER_DATA)
    instance.refresh_from_db()
    volume = hv.volume_info(instance.host.uri, "default", f"{instance.domain_name}-seed.iso")
    assert volume.path == instance.seed_path and volume.format == "raw"
    data = b"".join(hv.volume_download(instance.host.uri, "default", volume.name))
    assert hashlib.sha256(data).hexdigest() == instance.seed_sha256
    assert cloudinit.read_iso(data)[1]["user-data"].decode() == USER_DATA


def test_a_host_unreachable_at_delivery_fails_with_the_reason_and_records_nothing(project_a, flavor, image, key_pair):
    # Nothing listens on port 1: the libvirt connection is refused, as a host that went away.
    instance = real_instance(project_a, flavor, image, key_pair, uri="qemu+tcp://127.0.0.1:1/system")
    with pytest.raises(ActionError, match="Cannot deliver cloud-init data to far: .*(unable to connect|refused)"):
        cloudinit.place_seed(instance, "default")
    instance.refresh_from_db()
    assert instance.seed_path == "" and instance.seed_sha256 == ""


def test_removing_a_seed_that_is_already_gone_is_nothing_to_remove(launch, key_pair):
    _response, instance = launch(key_pair=key_pair.pk)
    instance.refresh_from_db()
    assert cloudinit.remove_seed(instance.host, instance.seed_path) is True
    assert cloudinit.remove_seed(instance.host, instance.seed_path) is False
    assert tasks._remove(instance.host, [("seed", instance.seed_path, None)]) == []


def test_deleting_a_seeded_instance_succeeds_and_leaves_nothing(launch, api, run_tasks, key_pair):
    _response, instance = launch(key_pair=key_pair.pk)
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{instance.pk}/")
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert hv.list_domains(instance.host.uri) == ()
    names = [v.name for v in hv.list_volumes(instance.host.uri, "default")]
    assert not [n for n in names if n.startswith(instance.domain_name)]
