"""Hardening (issue 18): the volume stream actions answer 4xx JSON, never 500."""

import hypervisor as hv
from storage import services


def test_an_upload_without_a_body_is_a_400_naming_the_body(api, make_volume):
    volume = make_volume(size_gb=1)
    response = api["alice"].put(f"/api/v1/volumes/{volume.pk}/upload/", content_type="application/octet-stream")
    assert response.status_code == 400 and "body" in response.json(), response.content


def test_a_download_from_a_stopped_pool_is_a_409_without_host_paths(
    api, make_volume, pool, host, admin_user, run_tasks
):
    volume = make_volume(size_gb=1)
    with run_tasks():
        services.pool_action(admin_user, pool, "stop")
    response = api["alice"].get(f"/api/v1/volumes/{volume.pk}/download/")
    assert response.status_code == 409, response.content
    body = response.json()
    assert "detail" in body and "/var/lib" not in str(body) and "test://" not in str(body), body


def test_a_download_the_host_refuses_is_a_409_without_host_paths(api, make_volume, pool, host):
    """The pool is active in the database but libvirt says otherwise (stopped behind Nubes' back)."""
    volume = make_volume(size_gb=1)
    hv.pool_stop(host.uri, pool.libvirt_name)
    response = api["alice"].get(f"/api/v1/volumes/{volume.pk}/download/")
    assert response.status_code == 409, response.content
    assert "/var/lib" not in response.content.decode() and "test://" not in response.content.decode()
