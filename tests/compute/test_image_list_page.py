"""The image list on django-tables2 + django-filter: public images for everyone, a project's
own only for its members; search, state and visibility filters; sizes with their unit."""

from compute.choices import ImageState, Visibility
from compute.models import Image
from tests.list_pages import row_ids, signed_in


def test_a_tenant_sees_public_and_its_own_images_never_another_projects(alice, charlie, project_a, image):
    own = Image.objects.create(
        name="acme-golden", volume="golden.qcow2", visibility=Visibility.PROJECT, project=project_a, virtual_size_gb=3
    )
    broken = Image.objects.create(name="broken", volume="b.qcow2", state=ImageState.ERROR)
    assert row_ids(signed_in(alice), "/compute/images/") == {image.pk, own.pk, broken.pk}
    assert row_ids(signed_in(charlie), "/compute/images/") == {image.pk, broken.pk}
    assert row_ids(signed_in(alice), "/compute/images/?visibility=project") == {own.pk}
    assert row_ids(signed_in(alice), "/compute/images/?state=error") == {broken.pk}
    assert row_ids(signed_in(alice), "/compute/images/?q=golden") == {own.pk}
    assert "3 GiB" in signed_in(alice).get("/compute/images/?q=golden").content.decode()
    assert 'data-error-for="state"' in signed_in(alice).get("/compute/images/?state=bogus").content.decode()
