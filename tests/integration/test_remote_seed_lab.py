"""cloud-init seeds on a remote host: the lab guest launched on host B (qemu+tcp://) with a key
pair and user data. The seed travels over the libvirt connection (a volume created in the root
disk's pool on B, filled with virStorageVolUpload); the domain on B boots with it as a cdrom,
and deleting the instance removes it from B."""

import pytest

import hypervisor as hv
from compute import cloudinit
from compute.models import KeyPair
from tests.compute.conftest import ED25519_KEY
from tests.integration.conftest import booted, virsh

pytestmark = pytest.mark.django_db(transaction=True)
USER_DATA = "#cloud-config\nruncmd:\n  - echo nubes-seed-marker\n"


def seed_volumes(uri, pool, domain_name):
    virsh(uri, "pool-refresh", pool)
    return [line.split()[0] for line in virsh(uri, "vol-list", pool).splitlines() if domain_name in line]


def test_a_seed_reaches_a_remote_host_boots_with_the_guest_and_goes_with_it(admin_api, lab_cloud, host_b, project_a):
    key = KeyPair(project=project_a, name="it-seed-key", public_key=ED25519_KEY)
    key.clean()
    key.save()
    payload = {
        "project": project_a.pk,
        "name": "it-seed-b",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_b.pk,
        "key_pair": key.pk,
        "user_data": USER_DATA,
    }
    with booted(admin_api, payload, [host_b]) as instance:
        instance.refresh_from_db()
        pool, name = instance.image.pool, cloudinit.seed_volume(instance.domain_name)
        assert instance.host_id == host_b.pk and instance.seed_path.endswith(name)
        assert name in seed_volumes(host_b.uri, pool, instance.domain_name)
        data = b"".join(hv.volume_download(host_b.uri, pool, name))
        label, files = cloudinit.read_iso(data)
        assert label == "cidata" and files["user-data"].decode() == USER_DATA
        assert ED25519_KEY in files["meta-data"].decode()
        cdroms = [
            d
            for d in hv.parse_domain_xml(virsh(host_b.uri, "dumpxml", instance.domain_name)).disks
            if d.device == "cdrom"
        ]
        assert [c.source for c in cdroms] == [instance.seed_path]
        domain_name = instance.domain_name
    # booted() deleted the instance through the API: nothing of it is left on B.
    assert seed_volumes(host_b.uri, pool, domain_name) == []
