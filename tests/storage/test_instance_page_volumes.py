"""The instance page's Volumes card (storage's panel through compute.hooks): the root disk
with its size, device and bus, each attached volume with its own, a link to the snapshots;
and the action buttons follow the state (no Start on a running instance)."""

from storage import services
from tests.list_pages import signed_in


def test_the_instance_page_lists_its_disks_with_size_device_and_bus(alice, instance, make_volume, run_tasks):
    volume = make_volume("data", size_gb=3)
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    volume.refresh_from_db()
    page = signed_in(alice).get(f"/compute/instances/{instance.pk}/").content.decode()
    card = page[page.index('id="instance-volumes"') :]
    card = card[: card.index("</section>")]
    assert f"{instance.disk_gb} GiB" in card and "root disk" in card
    row = card[card.index(f'data-volume="{volume.pk}"') :]
    assert ">data<" in row and "3 GiB" in row and volume.target_dev in row and "virtio" in row
    assert f"/storage/instances/{instance.pk}/snapshots/" in card


def test_action_buttons_follow_the_state(alice, instance, stopped_instance):
    running = signed_in(alice).get(f"/compute/instances/{instance.pk}/").content.decode()
    stopped = signed_in(alice).get(f"/compute/instances/{stopped_instance.pk}/").content.decode()

    def shown(page, action):
        form = page[page.index(f'/{action}/"') :]
        return not form[: form.index(">")].endswith(" hidden")

    assert shown(running, "stop") and not shown(running, "start") and shown(running, "pause")
    assert shown(stopped, "start") and not shown(stopped, "stop") and not shown(stopped, "reboot")
