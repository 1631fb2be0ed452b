"""The overcommit view (API field memory_overcommit and the staff host page): instance RAM and
balloon targets against the host's RAM, KSM and swap where readable, and the KSM switch."""

import pytest

import hypervisor as hv
from compute.choices import HostState, InstanceState
from compute.models import Host, Instance
from compute.tasks import overcommit as overcommit_tasks
from portal.models import Operation

LOCAL_MEMORY = {
    "readable": True,
    "note": "",
    "ksm_available": True,
    "ksm_run": 0,
    "ksm_pages_shared": 10,
    "ksm_pages_sharing": 40,
    "ksm_saved_kib": 160,
    "mem_total_kib": 8 * 1024 * 1024,
    "mem_available_kib": 1024 * 1024,
    "swap_total_kib": 2048,
    "swap_free_kib": 1024,
}


def place(project, flavor, image, host, name, ram_mb, state=InstanceState.ACTIVE, balloon_mb=None):
    return Instance.objects.create(
        project=project,
        name=name,
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=ram_mb,
        disk_gb=20,
        state=state,
        balloon_mb=balloon_mb,
    )


@pytest.fixture
def crowded(host_a, project_a, flavor, image):
    """host-a (128 GiB) promised 160 GiB: two running (one ballooned), one shut off."""
    place(project_a, flavor, image, host_a, "big-1", 65536, balloon_mb=32768)
    place(project_a, flavor, image, host_a, "big-2", 65536)
    place(project_a, flavor, image, host_a, "off", 32768, state=InstanceState.SHUTOFF)
    place(project_a, flavor, image, host_a, "gone", 99999, state=InstanceState.DELETED)
    return host_a


def test_the_api_says_how_far_a_host_is_overcommitted(api, crowded):
    data = api["admin"].get(f"/api/v1/hosts/{crowded.pk}/").json()["memory_overcommit"]
    assert data["host_ram_mb"] == 131072 and data["allocated_mb"] == 163840
    assert data["overcommitted"] and data["overcommitted_mb"] == 163840 - 131072 and data["ratio"] == 1.25
    assert data["running_mb"] == 131072 and data["balloon_target_mb"] == 98304
    assert data["reclaimed_by_balloons_mb"] == 32768


def test_a_simulated_host_says_ksm_and_swap_are_not_readable(api, hosts):
    data = api["admin"].get("/api/v1/hosts/").json()["results"][0]["memory_overcommit"]
    assert not data["overcommitted"] and data["allocated_mb"] == 0
    assert not data["readable"] and data["note"].startswith("not readable") and data["swap_total_kib"] is None


def test_the_staff_host_page_shows_what_is_overcommitted(admin_client_page, crowded):
    page = admin_client_page.get(f"/compute/hosts/{crowded.pk}/").content.decode()
    assert "overcommitted by 32768 MiB" in page and "big-1" in page and "32768 MiB" in page
    assert "not readable: a simulated host" in page


@pytest.fixture
def admin_client_page(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def local_host(cluster):
    host = Host.objects.create(
        name="here",
        uri="qemu:///system",
        cluster=cluster,
        state=HostState.UP,
        memory_mb=8192,
        facts={"memory": LOCAL_MEMORY},
    )
    return host


def test_a_readable_host_page_shows_ksm_and_swap_and_the_switch(admin_client_page, local_host):
    page = admin_client_page.get(f"/compute/hosts/{local_host.pk}/").content.decode()
    assert "40 sharing (160 KiB saved)" in page and "1024 KiB free of 2048 KiB" in page
    assert f"/compute/hosts/{local_host.pk}/ksm/" in page


def test_an_admin_starts_ksm_through_an_operation(api, run_tasks, local_host, monkeypatch):
    written = []
    monkeypatch.setattr(hv, "ksm_set_run", lambda uri, run: written.append((uri, run)))
    monkeypatch.setattr(hv, "host_memory", lambda uri: hv.HostMemory(**{**LOCAL_MEMORY, "ksm_run": 1}))
    with run_tasks():
        response = api["admin"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", {"run": 1}, format="json")
    assert response.status_code == 202
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and "KSM run=1" in op.message
    assert written == [("qemu:///system", 1)]
    local_host.refresh_from_db()
    assert local_host.facts["memory"]["ksm_run"] == 1


def test_ksm_is_refused_where_it_is_not_readable_and_to_members(api, hosts, local_host):
    response = api["admin"].post(f"/api/v1/hosts/{hosts[0].pk}/ksm/", {"run": 1}, format="json")
    assert response.status_code == 409 and "not readable" in response.json()["detail"]
    assert api["alice"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", {"run": 1}, format="json").status_code == 403
    assert api["admin"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", {"run": 5}, format="json").status_code == 400
    assert not Operation.objects.filter(kind="host.set_ksm").exists()


def test_a_refresh_records_ksm_and_swap_in_the_facts(host_a, monkeypatch):
    monkeypatch.setattr(hv, "host_memory", lambda uri: hv.HostMemory(**LOCAL_MEMORY))
    overcommit_tasks.record_host_memory(host_a)
    host_a.refresh_from_db()
    assert host_a.facts["memory"]["swap_total_kib"] == 2048 and host_a.facts["cpus"]


REMOTE_MEMORY = {
    **LOCAL_MEMORY,
    "ksm_run": None,
    "swap_total_kib": None,
    "swap_free_kib": None,
    "ksm_pages_to_scan": 100,
    "ksm_sleep_millisecs": 20,
    "note": "read over libvirt: KSM's on/off state and swap are not reported there",
}


def test_a_remote_host_shows_ksm_counters_and_is_tuned_but_not_switched(api, admin_client_page, local_host):
    # What hypervisor.host_memory reads over libvirt from a remote host: no run state, no swap.
    Host.objects.filter(pk=local_host.pk).update(facts={**local_host.facts, "memory": REMOTE_MEMORY})
    response = api["admin"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", {"run": 1}, format="json")
    assert response.status_code == 409 and "no run switch" in str(response.json())
    assert "pages_to_scan=0" in str(response.json())
    page = admin_client_page.get(f"/compute/hosts/{local_host.pk}/").content.decode()
    assert "on/off not reported" in page and "40 sharing" in page and "scans 100 pages every 20 ms" in page
    assert 'name="run"' not in page and 'name="pages_to_scan"' in page
    assert not Operation.objects.filter(kind="host.set_ksm").exists()


def test_an_admin_tunes_ksm_on_a_remote_host_through_an_operation(api, run_tasks, local_host, monkeypatch):
    Host.objects.filter(pk=local_host.pk).update(facts={**local_host.facts, "memory": REMOTE_MEMORY})
    tuned = []
    monkeypatch.setattr(hv, "ksm_tune", lambda uri, settings: tuned.append((uri, settings)))
    monkeypatch.setattr(hv, "host_memory", lambda uri: hv.HostMemory(**{**REMOTE_MEMORY, "ksm_pages_to_scan": 0}))
    with run_tasks():
        response = api["admin"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", {"pages_to_scan": 0}, format="json")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and "pages_to_scan=0" in op.message, op.message
    assert tuned == [("qemu:///system", {"pages_to_scan": 0})]


@pytest.mark.parametrize(
    "body", [{}, {"pages_to_scan": -1}, {"sleep_millisecs": 60_001}, {"merge_across_nodes": 2}, {"shm_run": 1}]
)
def test_ksm_settings_out_of_range_or_unknown_are_400(api, local_host, body):
    response = api["admin"].post(f"/api/v1/hosts/{local_host.pk}/ksm/", body, format="json")
    assert response.status_code == 400, response.content
    assert not Operation.objects.filter(kind="host.set_ksm").exists()
