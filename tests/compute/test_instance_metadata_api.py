"""The native API's instance metadata: shown in every instance body, replaced by PATCH through
compute.services.metadata (Nova's limits: 255-character keys and values, 128 items), with the
rename in the same PATCH; other projects see nothing, readers change nothing."""

from compute.models import Instance
from portal.models import AuditEvent


def test_patch_replaces_metadata_and_every_instance_body_shows_it(api, launch, run_tasks):
    _, instance = launch()
    url = f"/api/v1/instances/{instance.pk}/"
    assert api["alice"].get(url).json()["metadata"] == {}

    response = api["alice"].patch(url, {"metadata": {"role": "web", "tier": ""}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"role": "web", "tier": ""}
    assert Instance.objects.get(pk=instance.pk).metadata == {"role": "web", "tier": ""}
    listed = api["bob"].get("/api/v1/instances/").json()["results"]
    assert [i["metadata"] for i in listed] == [{"role": "web", "tier": ""}]  # readers read it
    assert AuditEvent.objects.filter(action="instance.metadata").count() == 1

    with run_tasks():
        both = api["alice"].patch(url, {"name": "web-9", "metadata": {"tier": "front"}}, format="json")
    assert both.status_code == 200 and (both.json()["name"], both.json()["metadata"]) == ("web-9", {"tier": "front"})
    renamed = api["alice"].patch(url, {"name": "web-10"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["metadata"] == {"tier": "front"}  # untouched
    assert api["alice"].patch(url, {"metadata": {}}, format="json").json()["metadata"] == {}


def test_bad_metadata_is_a_field_error_and_changes_nothing(api, launch):
    _, instance = launch()
    url = f"/api/v1/instances/{instance.pk}/"
    api["alice"].patch(url, {"metadata": {"keep": "me"}}, format="json")
    for bad in (["a"], {"n": 1}, {"": "x"}, {"k" * 256: "x"}, {"k": "v" * 256}):
        response = api["alice"].patch(url, {"name": "renamed", "metadata": bad}, format="json")
        assert response.status_code == 400 and list(response.json()) == ["metadata"], (bad, response.content)
    too_many = api["alice"].patch(url, {"metadata": {f"k{i}": "v" for i in range(129)}}, format="json")
    assert too_many.status_code == 403 and "metadata_items" in too_many.json()["detail"]
    assert api["alice"].patch(url, {}, format="json").status_code == 400
    assert api["alice"].patch(url, {"metadata": {"a": "b"}, "colour": "red"}, format="json").status_code == 400
    instance.refresh_from_db()
    assert (instance.name, instance.metadata) == ("web-1", {"keep": "me"})


def test_other_projects_and_readers_cannot_change_metadata(api, launch):
    _, instance = launch()
    url = f"/api/v1/instances/{instance.pk}/"
    assert api["charlie"].get(url).status_code == 404
    assert api["charlie"].patch(url, {"metadata": {"x": "y"}}, format="json").status_code == 404
    assert api["bob"].patch(url, {"metadata": {"x": "y"}}, format="json").status_code == 403
    assert api["anon"].patch(url, {"metadata": {"x": "y"}}, format="json").status_code in (401, 403)
    assert Instance.objects.get(pk=instance.pk).metadata == {}
