"""What compute and storage owe each other: attached volumes survive compute redefining the
domain, and deleting an instance makes its volumes available again."""

from compute.models import Cluster, Flavor, Instance
from compute.services import instances as compute_services
from storage import services
from tests.storage.test_volumes import disk_sources, reload


def launch(alice, project_a, flavor, image, run_tasks):
    from scheduler.services import recommendations

    # One host cannot keep room for a host failure: HA admission control would refuse.
    recommendations.update_settings(None, Cluster.objects.get(name="c1"), ha_enabled=False)
    with run_tasks():
        instance, op = compute_services.create_instance(alice, project_a, name="vm", flavor=flavor, image=image)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    return Instance.objects.get(pk=instance.pk)


def test_a_resize_keeps_attached_volumes_in_the_domain(make_volume, alice, project_a, host, flavor, image, run_tasks):
    instance = launch(alice, project_a, flavor, image, run_tasks)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    bigger = Flavor.objects.create(name="bigger", vcpus=2, ram_mb=1024, disk_gb=10)
    with run_tasks():
        compute_services.stop(alice, Instance.objects.get(pk=instance.pk), force=True)
    with run_tasks():
        op = compute_services.resize(alice, Instance.objects.get(pk=instance.pk), bigger)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    assert disk_sources(host, Instance.objects.get(pk=instance.pk))["vdb"] == reload(volume).path


def test_deleting_an_instance_makes_its_volumes_available(make_volume, alice, project_a, flavor, image, run_tasks):
    instance = launch(alice, project_a, flavor, image, run_tasks)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    assert reload(volume).state == "in-use"
    with run_tasks():
        compute_services.delete(alice, Instance.objects.get(pk=instance.pk))
    volume = reload(volume)
    assert volume.state == "available" and volume.instance is None and volume.target_dev == ""
