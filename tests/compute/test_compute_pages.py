"""The compute pages: launch form errors and a cloud admin's host / cluster pick, the detail
page's live group, staff-only hosts."""

import pytest
from django.test import Client

from compute.choices import InstanceState
from compute.models import Cluster, Host, Instance


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


def launch_form(browser, run_tasks, **fields):
    with run_tasks():
        return browser.post("/compute/instances/launch/", fields)


def test_the_launch_form_shows_why_a_flavor_is_too_big(browser, run_tasks, hosts, big_flavor, image):
    response = launch_form(browser, run_tasks, name="huge", flavor=big_flavor.pk, image=image.pk)
    assert response.status_code == 400
    assert b"No host can take flavor m1.colossal" in response.content
    assert not Instance.objects.exists()


def test_the_launch_form_rejects_a_blank_name(browser, run_tasks, hosts, flavor, image):
    response = launch_form(browser, run_tasks, name="   ", flavor=flavor.pk, image=image.pk)
    assert response.status_code == 400 and b'data-error-for="name"' in response.content


def test_launching_from_the_form_builds_the_instance(browser, run_tasks, hosts, flavor, image):
    response = launch_form(browser, run_tasks, name="from-ui", flavor=flavor.pk, image=image.pk)
    instance = Instance.objects.get(name="from-ui")
    assert response.status_code == 302 and response["Location"] == f"/compute/instances/{instance.pk}/"
    assert instance.state == InstanceState.ACTIVE


def test_the_detail_page_follows_the_instance_group_and_offers_actions(browser, launch):
    _, instance = launch()
    page = browser.get(f"/compute/instances/{instance.pk}/").content.decode()
    assert f'data-subscribe="compute.instance.{instance.pk}"' in page
    assert f"/compute/instances/{instance.pk}/stop/" in page and "simulated" in page
    assert f"/ws/console/{instance.pk}/" in page


def test_an_action_button_queues_the_action(browser, run_tasks, launch):
    _, instance = launch()
    with run_tasks():
        response = browser.post(f"/compute/instances/{instance.pk}/pause/")
    assert response.status_code == 302
    instance.refresh_from_db()
    assert instance.state == InstanceState.PAUSED


def test_a_refused_action_is_shown_not_raised(browser, run_tasks, launch):
    _, instance = launch()
    response = browser.post(f"/compute/instances/{instance.pk}/start/", follow=True)
    assert b"Cannot start instance" in response.content


def test_another_tenants_instance_page_is_a_404(charlie, launch):
    _, instance = launch()
    client = Client()
    client.force_login(charlie)
    assert client.get(f"/compute/instances/{instance.pk}/").status_code == 404
    assert client.post(f"/compute/instances/{instance.pk}/stop/").status_code == 404


def test_hosts_are_for_staff_and_show_the_simulated_badge(browser, admin_user, hosts):
    assert browser.get("/compute/hosts/").status_code == 302
    staff = Client()
    staff.force_login(admin_user)
    page = staff.get("/compute/hosts/").content.decode()
    assert "host-a" in page and 'class="badge simulated"' in page
    detail = staff.get(f"/compute/hosts/{hosts[0].pk}/").content.decode()
    assert "NUMA" in detail and "node 1" in detail


def test_flavor_and_image_lists(browser, flavor, image):
    assert b"m1.small" in browser.get("/compute/flavors/").content
    assert b"cirros" in browser.get("/compute/images/").content


@pytest.fixture
def admin_browser(admin_user, project_a):
    client = Client()
    client.force_login(admin_user)
    return client


def test_only_cloud_admins_get_the_host_and_cluster_choice(browser, admin_browser, hosts):
    page = admin_browser.get("/compute/instances/launch/").content.decode()
    assert 'name="host"' in page and 'name="cluster"' in page and "host-b (demo, up)" in page
    member_page = browser.get("/compute/instances/launch/").content.decode()
    assert 'name="host"' not in member_page and 'name="cluster"' not in member_page


def test_a_cloud_admin_launches_on_the_host_picked_in_the_form(admin_browser, run_tasks, hosts, flavor, image):
    for host in hosts:  # either host, whatever the scheduler would have chosen
        name = f"on-{host.name}"
        response = launch_form(admin_browser, run_tasks, name=name, flavor=flavor.pk, image=image.pk, host=host.pk)
        assert response.status_code == 302, response.content
        assert Instance.objects.get(name=name).host == host


def test_a_host_outside_the_picked_cluster_is_no_valid_host(admin_browser, run_tasks, hosts, flavor, image):
    other = Cluster.objects.create(name="elsewhere")
    response = launch_form(
        admin_browser, run_tasks, name="nowhere", flavor=flavor.pk, image=image.pk, host=hosts[0].pk, cluster=other.pk
    )
    assert response.status_code == 400 and not Instance.objects.filter(name="nowhere").exists()
    assert b"No host" in response.content, response.content[-2000:]


def test_the_launch_form_offers_flavor_sizes_and_the_quota_a_launch_takes(browser, hosts, flavor, image):
    page = browser.get("/compute/instances/launch/").content.decode()
    assert f'data-vcpus="{flavor.vcpus}"' in page and f'data-ram-mb="{flavor.ram_mb}"' in page
    quota = page[page.index('id="launch-quota"') :]
    assert 'data-resource="vcpus"' in quota and 'data-resource="instances"' in quota and "0 / 20" in quota


def test_a_count_launches_numbered_instances_and_a_bad_count_is_a_field_error(browser, run_tasks, hosts, flavor, image):
    response = launch_form(browser, run_tasks, name="farm", count=3, flavor=flavor.pk, image=image.pk)
    assert response.status_code == 302 and response["Location"] == "/compute/instances/"
    assert sorted(Instance.objects.values_list("name", flat=True)) == ["farm-1", "farm-2", "farm-3"]
    response = launch_form(browser, run_tasks, name="many", count=11, flavor=flavor.pk, image=image.pk)
    assert response.status_code == 400 and 'data-error-for="count"' in response.content.decode()
    assert 'value="many"' in response.content.decode()  # what was typed stays


def test_a_count_over_quota_launches_what_fits_and_says_what_stopped(
    browser, run_tasks, hosts, flavor, image, project_a
):
    from portal.models import Quota

    Quota.ensure_defaults(project_a)
    Quota.objects.filter(project=project_a, resource="instances").update(limit=2)
    response = launch_form(browser, run_tasks, name="tight", count=3, flavor=flavor.pk, image=image.pk)
    assert response.status_code == 302
    assert Instance.objects.filter(name__startswith="tight-").count() == 2
    page = browser.get("/compute/instances/").content.decode()
    assert "Launched 2 of 3; tight-3: Quota exceeded" in page


def test_the_serial_console_takes_keys_on_a_real_host_for_members_not_readers(alice, bob, project_a, flavor, image):
    cluster = Cluster.objects.create(name="lab")
    host = Host.objects.create(name="lab-b", uri="qemu+tcp://10.99.0.2/system", cluster=cluster, simulated=False)
    instance = Instance.objects.create(
        project=project_a, name="vm", flavor=flavor, image=image, host=host, vcpus=1, ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb, state=InstanceState.ACTIVE,
    )  # fmt: skip
    pages = {}
    for user in (alice, bob):
        client = Client()
        client.force_login(user)
        pages[user.username] = client.get(f"/compute/instances/{instance.pk}/").content.decode()
    assert 'data-console-input="on"' in pages["alice"]
    assert 'data-console-input="on"' not in pages["bob"] and f"/ws/console/{instance.pk}/" in pages["bob"]
