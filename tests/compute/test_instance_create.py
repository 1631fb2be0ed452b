"""Creating instances on simulated hosts: placement first, quota atomically, and a failed
build leaves nothing behind."""

import hypervisor as hv
from compute.choices import InstanceState, PowerState
from compute.models import Host, Image, Instance
from portal.models import Operation, Quota


def in_use(project, resource):
    return Quota.objects.get(project=project, resource=resource).in_use


def test_it_creates_and_starts_an_instance(launch, project_a, flavor):
    response, instance = launch()
    assert response.status_code == 202
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert (instance.state, instance.power_state) == (InstanceState.ACTIVE, PowerState.RUNNING)
    domain = hv.domain_state(instance.host.uri, str(instance.uuid))
    assert domain.name == f"nubes-{instance.uuid}" and domain.state == "running"
    assert domain.instance_id == str(instance.pk)
    volume = hv.volume_info(instance.host.uri, "default", instance.root_volume)
    assert volume.backing_path  # a linked clone of the image
    assert in_use(project_a, "instances") == 1 and in_use(project_a, "ram_mb") == flavor.ram_mb


def test_it_refuses_a_flavor_too_big_for_any_host(launch, project_a, big_flavor):
    response, _ = launch(flavor=big_flavor.pk)
    assert response.status_code == 400
    message = response.json()["flavor"][0]
    assert "host-a" in message and "host-b" in message and "memory" in message
    assert not Instance.objects.exists() and not Operation.objects.exists()
    assert in_use(project_a, "instances") == 0


def test_a_failed_start_leaves_no_domain_or_volume_and_returns_the_quota(launch, project_a, monkeypatch):
    def broken_start(uri, uuid, paused=False):
        raise hv.OperationFailed("simulated start failure", uri=uri)

    monkeypatch.setattr(hv, "domain_start", broken_start)
    response, instance = launch()
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "simulated start failure" in op.error
    instance.refresh_from_db()
    assert instance.state == InstanceState.ERROR and "nothing was left" in instance.state_reason
    assert hv.list_domains(instance.host.uri) == ()
    assert instance.root_volume not in {v.name for v in hv.list_volumes(instance.host.uri, "default")}
    assert in_use(project_a, "instances") == 0 and in_use(project_a, "vcpus") == 0


def test_an_image_pool_no_host_has_is_refused_before_anything_is_made(launch, image):
    Image.objects.filter(pk=image.pk).update(pool="no-such-pool")
    response, instance = launch()
    assert response.status_code == 400 and instance is None
    assert "pool no-such-pool is not active on this host" in response.json()["image"][0]


def test_a_pool_gone_since_the_host_reported_it_fails_the_operation_with_the_reason(launch, image):
    Image.objects.filter(pk=image.pk).update(pool="no-such-pool")
    for host in Host.objects.all():  # stale facts: the pool was undefined outside Nubes
        Host.objects.filter(pk=host.pk).update(facts={**host.facts, "pools": ["default", "no-such-pool"]})
    response, instance = launch()
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "no-such-pool" in op.error
    assert hv.list_domains(instance.host.uri) == ()


def test_it_refuses_when_the_instance_quota_is_used_up(launch, project_a):
    Quota.objects.filter(project=project_a, resource="instances").update(limit=0)
    response, _ = launch()
    assert response.status_code == 403
    assert response.json()["quota"] == "instances"
    assert not Instance.objects.exists()


def test_names_with_xml_metacharacters_are_escaped_in_the_domain_xml(launch):
    name = "<b>&\"web'</b>"
    response, instance = launch(name=name)
    assert response.status_code == 202
    xml = hv.domain_xml(instance.host.uri, str(instance.uuid))
    assert "&lt;b&gt;&amp;" in xml
    assert hv.parse_domain_xml(xml).title == name


def test_it_rejects_another_tenants_key_pair(launch, project_b):
    from compute.models import KeyPair
    from tests.compute.conftest import ED25519_KEY

    foreign = KeyPair.objects.create(project=project_b, name="k", public_key=ED25519_KEY, fingerprint="x")
    response, _ = launch(key_pair=foreign.pk)
    assert response.status_code == 400 and "key_pair" in response.json()


def test_it_rejects_another_tenants_image(launch, project_b):
    foreign = Image.objects.create(name="secret", volume="s.qcow2", visibility="project", project=project_b)
    response, _ = launch(image=foreign.pk)
    assert response.status_code == 400 and "image" in response.json()


def test_it_rejects_unknown_fields(launch):
    response, _ = launch(colour="blue")
    assert response.status_code == 400 and response.json()["colour"] == ["Unknown field."]


def test_a_reader_cannot_launch(launch):
    response, _ = launch(user="bob")
    assert response.status_code in (400, 403)
    assert not Instance.objects.exists()
