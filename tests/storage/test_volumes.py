"""Volume verbs end to end on a simulated host: create, clone, resize, attach, detach, delete."""

import pytest

from portal.errors import ActionError, Conflict
from portal.models import Operation, Quota
from storage import services
from storage.models import Volume
from tests.storage.conftest import GIB, disk_sources, pool_volumes, reload


def usage(project, resource):
    return Quota.objects.get(project=project, resource=resource).in_use


def test_it_creates_a_thin_volume_in_the_pool_and_takes_quota(make_volume, host, project_a):
    volume = make_volume(size_gb=5)
    assert volume.state == "available" and volume.simulated
    assert pool_volumes(host)[volume.libvirt_name].capacity_bytes == 5 * GIB
    assert usage(project_a, "volumes") == 1 and usage(project_a, "disk_gb") == 5


def test_it_creates_a_volume_from_an_image_at_least_the_image_size(make_volume, image, host):
    volume = make_volume(name="boot", size_gb=None, source="image", image=image)
    assert volume.size_gb == 2
    with pytest.raises(ActionError, match="cannot be smaller"):
        make_volume(name="tiny", size_gb=1, source="image", image=image)


def test_a_linked_clone_of_an_image_is_backed_by_the_image_file(make_volume, image, host):
    volume = make_volume(name="boot", source="image", image=image, clone_mode="linked")
    assert pool_volumes(host)[volume.libvirt_name].backing_path == "/var/lib/libvirt/images/cirros.qcow2"


def test_a_linked_clone_needs_a_template_and_protects_it(make_volume, alice, run_tasks):
    base = make_volume(name="golden")
    with pytest.raises(ActionError, match="template"):
        make_volume(name="clone", source="volume", source_volume=base, clone_mode="linked")
    services.set_template(alice, base, True)
    clones = [make_volume(name=f"clone{i}", source="volume", source_volume=base, clone_mode="linked") for i in range(3)]
    assert {reload(c).backing_path for c in clones} == {base.path}
    with pytest.raises(Conflict, match="linked clones"):
        services.delete_volume(alice, reload(base))
    with pytest.raises(Conflict, match="stays a template"):
        services.set_template(alice, reload(base), False)
    assert Volume.objects.filter(pk=base.pk).exists()


def test_flatten_detaches_a_clone_from_its_template(make_volume, alice, host, run_tasks):
    base = make_volume(name="golden")
    services.set_template(alice, base, True)
    clone = make_volume(name="clone", source="volume", source_volume=base, clone_mode="linked")
    with run_tasks():
        services.flatten_volume(alice, clone)
    clone = reload(clone)
    assert clone.backing_volume is None and clone.backing_path == ""
    assert pool_volumes(host)[clone.libvirt_name].backing_path is None
    with run_tasks():
        services.delete_volume(alice, reload(base))
    assert not Volume.objects.filter(pk=base.pk).exists()


def test_a_full_clone_is_independent(make_volume, host):
    base = make_volume(name="golden")
    copy = make_volume(name="copy", source="volume", source_volume=base)
    assert pool_volumes(host)[copy.libvirt_name].backing_path is None


def test_thin_overcommit_limit_is_respected(make_volume, pool, project_a):
    capacity_gb = pool.capacity_bytes // GIB
    limit = int(capacity_gb * pool.overcommit_limit)
    make_volume(name="big", size_gb=limit - 1)
    with pytest.raises(ActionError, match="over its limit"):
        make_volume(name="toomuch", size_gb=2)
    assert not Volume.objects.filter(name="toomuch").exists()
    assert usage(project_a, "disk_gb") == limit - 1


def test_resize_grows_only_and_takes_the_difference(make_volume, alice, host, project_a, run_tasks):
    volume = make_volume(size_gb=5)
    with pytest.raises(ActionError, match="only grows"):
        services.resize_volume(alice, volume, 4)
    with run_tasks():
        services.resize_volume(alice, volume, 8)
    volume = reload(volume)
    assert volume.size_gb == 8 and volume.state == "available"
    assert pool_volumes(host)[volume.libvirt_name].capacity_bytes == 8 * GIB
    assert usage(project_a, "disk_gb") == 8


def test_attach_live_then_detach(make_volume, alice, instance, host, run_tasks):
    volume = make_volume()
    with run_tasks():
        op = services.attach_volume(alice, volume, instance, cache="writeback")
    volume = reload(volume)
    assert volume.state == "in-use" and volume.instance == instance and volume.target_dev == "vdb"
    assert disk_sources(host, instance)["vdb"] == volume.path
    assert "simulated" in reload(op).message
    with pytest.raises(Conflict, match="detach it first"):
        services.delete_volume(alice, volume)
    with run_tasks():
        services.detach_volume(alice, volume)
    volume = reload(volume)
    assert volume.state == "available" and volume.instance is None
    assert "vdb" not in disk_sources(host, instance)


def test_attach_to_another_tenants_instance_is_refused(make_volume, alice, charlie, project_b, host, flavor, image):
    from tests.storage.conftest import make_instance

    theirs = make_instance(project_b, host, flavor, image, name="theirs")
    volume = make_volume()
    with pytest.raises(ActionError, match="No such instance"):
        services.attach_volume(alice, volume, theirs)
    assert reload(volume).state == "available"


def test_attach_to_an_instance_on_a_host_that_cannot_see_the_pool_is_refused(
    make_volume, alice, project_a, host_b, flavor, image
):
    from tests.storage.conftest import make_instance

    elsewhere = make_instance(project_a, host_b, flavor, image, name="elsewhere")
    volume = make_volume()
    with pytest.raises(ActionError, match="cannot see pool"):
        services.attach_volume(alice, volume, elsewhere)
    assert not Operation.objects.filter(kind="volume.attach").exists()


def test_delete_gives_the_quota_back_and_removes_the_file(make_volume, alice, host, project_a, run_tasks):
    volume = make_volume(size_gb=3)
    name = volume.libvirt_name
    with run_tasks():
        services.delete_volume(alice, volume, wipe=True)
    assert not Volume.objects.filter(pk=volume.pk).exists()
    assert name not in pool_volumes(host)
    assert usage(project_a, "volumes") == 0 and usage(project_a, "disk_gb") == 0


def test_a_failed_create_gives_the_quota_back(make_volume, alice, project_a, pool, run_tasks):
    volume, op = None, None
    with run_tasks():
        # A file of that name already exists in the pool: libvirt refuses the second one.
        import hypervisor as hv
        from storage.models import Volume as V

        volume, op = services.create_volume(alice, project_a, name="clash", pool=pool, size_gb=2)
        hv.volume_create(pool.hosts.get().uri, "default", V.objects.get(pk=volume.pk).libvirt_name, GIB)
    op.refresh_from_db()
    assert op.status == "failed"
    assert reload(volume).state == "error"
    assert usage(project_a, "volumes") == 0 and usage(project_a, "disk_gb") == 0


def test_a_reader_cannot_create(bob, project_a, pool):
    from portal.errors import NotPermitted

    with pytest.raises(NotPermitted):
        services.create_volume(bob, project_a, name="x", pool=pool, size_gb=1)
