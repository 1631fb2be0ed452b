"""Network pools on the test driver: a GlusterFS netfs pool and an iSCSI pool on QEMU's own
initiator (iscsi-direct). The lab tier proves them against real tgtd and glusterd
(tests/integration/test_san_nas_lab.py); here: the XML each host gets, what a LUN pool refuses
and how a mapped LUN reaches a domain."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

import hypervisor as hv
from portal.errors import ActionError
from storage import services
from storage.models import StoragePool, Volume
from storage.tasks import pools as pool_tasks
from storage.tasks import volumes as tasks
from tests.conftest import client_for
from tests.storage.conftest import reload

IQN = "iqn.2026-12.lab.nubes:san1"


@pytest.fixture
def san_pool(db, host, host_b):
    """An iSCSI pool row as define_pool saves it (the test driver has no iSCSI target to start)."""
    pool = StoragePool(name="san", libvirt_name="san", type="iscsi-direct", source_host="10.99.2.10", source_device=IQN)
    pool.full_clean()
    pool.save()
    pool.hosts.set([host, host_b])
    return pool


def test_each_host_logs_in_to_an_iscsi_target_under_its_own_initiator_name(san_pool, host, host_b, settings):
    settings.NUBES_ISCSI_INITIATOR_PREFIX = "iqn.2026-12.io.example"
    xml_a = hv.storage.build_pool_xml(pool_tasks._pool_spec(san_pool, host))
    xml_b = hv.storage.build_pool_xml(pool_tasks._pool_spec(san_pool, host_b))
    assert '<pool type="iscsi-direct">' in xml_a.replace("'", '"')
    assert f'<device path="{IQN}"/>' in xml_a
    assert '<iqn name="iqn.2026-12.io.example:host-a"/>' in xml_a
    assert '<iqn name="iqn.2026-12.io.example:host-b"/>' in xml_b
    assert "<target>" not in xml_a


def test_a_glusterfs_pool_mounts_the_volume_with_the_glusterfs_format(host):
    pool = StoragePool(
        name="gluster",
        libvirt_name="gluster",
        type="netfs",
        source_host="10.99.2.10",
        source_dir="/nubes-gv",
        source_format="glusterfs",
        target_path="/var/lib/nubes-lab/gluster",
    )
    pool.full_clean()
    xml = hv.storage.build_pool_xml(pool_tasks._pool_spec(pool, host))
    assert '<format type="glusterfs"/>' in xml and '<dir path="/nubes-gv"/>' in xml
    pool.source_format = ""  # a netfs pool without a format mounts NFS, as before
    assert '<format type="nfs"/>' in hv.storage.build_pool_xml(pool_tasks._pool_spec(pool, host))


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"type": "iscsi-direct", "source_host": "10.99.2.10"}, "source_device"),
        ({"type": "iscsi-direct", "source_device": IQN}, "source_host"),
        ({"type": "dir", "target_path": "/srv/x", "source_format": "glusterfs"}, "source_format"),
    ],
)
def test_an_incomplete_network_pool_is_refused_naming_the_field(db, fields, field):
    with pytest.raises(ValidationError) as caught:
        StoragePool(name="p", libvirt_name="p", **fields).full_clean()
    assert field in caught.value.message_dict


def test_a_lun_pool_creates_no_volume_and_says_what_it_offers(san_pool, alice, project_a):
    with pytest.raises(ActionError) as caught:
        services.create_volume(alice, project_a, name="v", pool=san_pool, size_gb=1)
    assert caught.value.field == "pool" and "maps a LUN" in str(caught.value)
    assert not Volume.objects.exists()


def test_the_api_refuses_a_volume_in_a_lun_pool_with_a_field_error(san_pool, alice, project_a):
    response = client_for(alice).post(
        "/api/v1/volumes/", {"project": project_a.pk, "name": "v", "pool": san_pool.pk, "size_gb": 1}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "pool" in response.json()


def test_a_mapped_lun_is_named_as_libvirt_names_it(san_pool, admin_user, project_a):
    with pytest.raises(ValidationError) as caught:
        services.map_device(admin_user, project_a, name="lun", pool=san_pool, device_path="/dev/sdb")
    assert "device_path" in caught.value.message_dict


def test_a_mapped_lun_reaches_the_domain_as_a_volume_of_the_pool(san_pool, admin_user, project_a):
    raw = services.map_device(
        admin_user, project_a, name="rdm", pool=san_pool, device_path="unit:0:0:1", device_type="lun"
    )
    disk = tasks.disk_spec(reload(raw), "sda")
    assert (disk.type, disk.device, disk.pool, disk.volume, disk.bus) == ("volume", "lun", "san", "unit:0:0:1", "scsi")
    as_disk = services.map_device(admin_user, project_a, name="lun-disk", pool=san_pool, device_path="unit:0:0:2")
    disk = tasks.disk_spec(reload(as_disk), "vdb")
    assert (disk.type, disk.device, disk.volume) == ("volume", "disk", "unit:0:0:2")
    element = hv.build_disk_xml(tasks.disk_spec(reload(raw), "sda"))
    assert '<source pool="san" volume="unit:0:0:1"/>' in element.replace("'", '"')


def lun(name, size):
    return hv.VolumeInfo(
        name, "san", f"ip-10.99.2.10:3260-iscsi-{IQN}-lun-{name[-1]}", name, size, size, None, None, None
    )


@pytest.fixture
def refreshed_san_pool(san_pool, admin_user, run_tasks, monkeypatch):
    """The iSCSI pool refreshed by its hosts, which list tgt's controller (0 B) and two LUNs (the
    test driver has no iSCSI target: the two gateway calls are patched with autospec)."""
    info = hv.PoolInfo("san", "u", "iscsi-direct", True, True, True, 3 * 2**29, 3 * 2**29, 0, None)
    monkeypatch.setattr(hv, "pool_refresh", mock.create_autospec(hv.pool_refresh, return_value=info))
    listed = (lun("unit:0:0:0", 0), lun("unit:0:0:1", 2**30), lun("unit:0:0:2", 2**29))
    monkeypatch.setattr(hv, "list_volumes", mock.create_autospec(hv.list_volumes, return_value=listed))
    with run_tasks():
        op = services.pool_action(admin_user, san_pool, "refresh")
    assert reload(op).status == "succeeded", reload(op).error
    return reload(san_pool)


def test_a_lun_pool_lists_its_luns_and_what_each_is_mapped_as(refreshed_san_pool, admin_user, project_a):
    rdm = services.map_device(
        admin_user, project_a, name="rdm", pool=refreshed_san_pool, device_path="unit:0:0:1", device_type="lun"
    )
    body = client_for(admin_user).get(f"/api/v1/storage-pools/{refreshed_san_pool.pk}/").json()
    assert body["luns"] == [
        {"name": "unit:0:0:1", "capacity_bytes": 2**30, "volume": rdm.pk, "project": project_a.pk},
        {"name": "unit:0:0:2", "capacity_bytes": 2**29, "volume": None, "project": None},
    ]


def test_only_cloud_admins_see_a_pools_luns(refreshed_san_pool, alice):
    body = client_for(alice).get(f"/api/v1/storage-pools/{refreshed_san_pool.pk}/").json()
    assert "luns" not in body and body["name"] == "san"


def test_the_pools_page_shows_the_luns_mapped_and_free(refreshed_san_pool, admin_user, project_a, client):
    services.map_device(admin_user, project_a, name="rdm", pool=refreshed_san_pool, device_path="unit:0:0:2")
    client.force_login(admin_user)
    page = client.get(reverse("storage:pools")).content.decode()
    assert "<code>unit:0:0:1</code> 1.0\xa0GB: not mapped" in page
    assert "<code>unit:0:0:2</code> 512.0\xa0MB: mapped as" in page and ">rdm</a>" in page
    assert "unit:0:0:0" not in page
