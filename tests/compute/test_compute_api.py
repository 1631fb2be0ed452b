"""The compute API's own behaviour: bad input, key pairs, hosts, and list query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compute.models import Flavor, Image, Instance
from portal.models import Operation
from tests.compute.conftest import ED25519_KEY, node_uri


@pytest.mark.parametrize("field, value", [("vcpus", -1), ("ram_mb", -512), ("disk_gb", 0), ("vcpus", "many")])
def test_it_rejects_a_negative_or_wrong_flavor_size(api, field, value):
    payload = {"name": "bad", "vcpus": 1, "ram_mb": 512, "disk_gb": 1, field: value}
    response = api["admin"].post("/api/v1/flavors/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Flavor.objects.exists()


def test_it_rejects_numa_nodes_that_do_not_divide_the_vcpus(api):
    payload = {"name": "odd", "vcpus": 3, "ram_mb": 1024, "disk_gb": 1, "numa_nodes": 2}
    response = api["admin"].post("/api/v1/flavors/", payload, format="json")
    assert response.status_code == 400 and "numa_nodes" in response.json()


def test_a_public_flavor_cannot_name_a_project(api, project_a):
    payload = {"name": "x", "vcpus": 1, "ram_mb": 512, "disk_gb": 1, "visibility": "public", "project": project_a.pk}
    assert api["admin"].post("/api/v1/flavors/", payload, format="json").status_code == 400


def test_an_image_in_use_cannot_be_deleted(api, launch, image):
    launch()
    response = api["admin"].delete(f"/api/v1/images/{image.pk}/")
    assert response.status_code == 409 and "in use" in response.json()["detail"]
    assert Image.objects.filter(pk=image.pk).exists()


def test_an_imported_key_gets_its_openssh_fingerprint(api, project_a):
    response = api["alice"].post("/api/v1/keypairs/", {"name": "laptop", "public_key": ED25519_KEY}, format="json")
    assert response.status_code == 201
    assert response.json()["fingerprint"].startswith("SHA256:") and "private_key" not in response.json()


def test_a_generated_key_shows_its_private_half_once(api, project_a):
    response = api["alice"].post("/api/v1/keypairs/", {"name": "new"}, format="json")
    assert response.status_code == 201
    assert "OPENSSH PRIVATE KEY" in response.json()["private_key"]
    again = api["alice"].get(f"/api/v1/keypairs/{response.json()['id']}/").json()
    assert "private_key" not in again


def test_it_rejects_garbage_as_a_public_key(api, project_a):
    response = api["alice"].post("/api/v1/keypairs/", {"name": "bad", "public_key": "ssh-rsa <script>"}, format="json")
    assert response.status_code == 400 and "public_key" in response.json()


def test_an_admin_registers_a_host_and_its_facts_are_read(api, run_tasks, cluster):
    with run_tasks():
        response = api["admin"].post(
            "/api/v1/hosts/", {"name": "host-c", "uri": node_uri("host-c"), "cluster": cluster.pk}, format="json"
        )
    assert response.status_code == 202
    assert Operation.objects.get(pk=response.json()["id"]).status == "succeeded"
    host = api["admin"].get(f"/api/v1/hosts/{response.json()['target_id']}/").json()
    assert host["state"] == "up" and host["simulated"] is True and host["cpus"] > 0
    assert host["facts"]["numa_cells"] and host["kvm_usable"] is False


@pytest.mark.parametrize("uri", ["http://example.com/", "qemu+ssh:///system", "test:///etc/passwd"])
def test_it_rejects_a_bad_libvirt_uri(api, cluster, uri):
    response = api["admin"].post("/api/v1/hosts/", {"name": "bad", "uri": uri, "cluster": cluster.pk}, format="json")
    assert response.status_code == 400 and "uri" in response.json()


def test_a_host_in_maintenance_takes_no_new_instances(api, launch, hosts):
    for host in hosts:
        response = api["admin"].post(
            f"/api/v1/hosts/{host.pk}/set-state/", {"state": "maintenance", "reason": "firmware"}, format="json"
        )
        assert response.status_code == 200 and response.json()["state"] == "maintenance"
    response, _ = launch()
    assert response.status_code == 400 and "maintenance (firmware)" in response.json()["flavor"][0]


def make_instances(count, project, host, flavor, image):
    Instance.objects.bulk_create(
        Instance(
            project=project,
            name=f"vm{n}",
            flavor=flavor,
            image=image,
            host=host,
            vcpus=1,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            state="active",
        )
        for n in range(count)
    )


def list_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_instance_list_query_count_does_not_grow_with_rows(api, project_a, host_a, flavor, image):
    make_instances(3, project_a, host_a, flavor, image)
    few = list_queries(api["alice"], "/api/v1/instances/")
    make_instances(40, project_a, host_a, flavor, image)
    assert list_queries(api["alice"], "/api/v1/instances/") == few


def test_the_instance_list_takes_a_pinned_number_of_queries(
    api, project_a, host_a, flavor, image, django_assert_num_queries
):
    make_instances(10, project_a, host_a, flavor, image)
    # count + page (with flavor, image, host, key pair and project joined)
    with django_assert_num_queries(2):
        assert len(api["alice"].get("/api/v1/instances/").json()["results"]) == 10


def test_the_host_list_takes_a_pinned_number_of_queries(api, hosts, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert len(api["admin"].get("/api/v1/hosts/").json()["results"]) == 2
