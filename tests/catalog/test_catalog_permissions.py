"""The tenant permission matrix for services (rows made directly: no build needed)."""

import pytest

from catalog.models import Service, ServiceState
from tests.matrix import PermissionMatrix


class TestServiceMatrix(PermissionMatrix):
    list_url = "/api/v1/services/"

    @pytest.fixture(autouse=True)
    def _template(self, template, flavor):
        self.template, self.flavor = template, flavor

    def make(self, project):
        return Service.objects.create(
            project=project, name="db", template=self.template, flavor=self.flavor, state=ServiceState.ERROR
        )

    def test_reader_cannot_run_an_action(self, api, obj):
        Service.objects.filter(pk=obj.pk).update(state=ServiceState.ACTIVE)
        response = api["bob"].post(f"{self.detail_url(obj)}run/", {"action": "db-list"}, format="json")
        assert response.status_code == 403
