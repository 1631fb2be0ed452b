"""Hardening (issue 18): volume, pool and snapshot paths on hosts are for cloud admins only."""

from django.test import Client


def test_tenants_never_see_volume_or_pool_paths_cloud_admins_do(api, make_volume, pool, alice, admin_user):
    volume = make_volume(size_gb=1)
    tenant = api["alice"].get(f"/api/v1/volumes/{volume.pk}/").json()
    assert not {"path", "backing_path", "device_path"} & set(tenant), tenant
    assert "/var/lib" not in str(api["alice"].get(f"/api/v1/storage-pools/{pool.pk}/").json())
    assert api["admin"].get(f"/api/v1/volumes/{volume.pk}/").json()["path"].startswith("/var/lib/libvirt/images")
    assert api["admin"].get(f"/api/v1/storage-pools/{pool.pk}/").json()["target_path"] == "/var/lib/libvirt/images"
    page = Client()
    page.force_login(alice)
    assert "/var/lib/libvirt" not in page.get(f"/storage/volumes/{volume.pk}/").content.decode()
    page.force_login(admin_user)
    assert "/var/lib/libvirt" in page.get(f"/storage/volumes/{volume.pk}/").content.decode()
