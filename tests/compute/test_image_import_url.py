"""An image imported from an http(s) URL (Glance's web-download): the worker running the task
fetches it and streams the body in, so it works wherever the workers run; a URL that is not
http(s), or both a URL and a path, is a 400 before anything starts; a URL that answers an error
fails the Operation with the status. And a path that is not on the worker's machine says so;
Glance's interoperable import (web-download) takes the same route."""

import hashlib
import http.server
import threading

import pytest
from django.test import Client

from compute.choices import ImageState
from compute.models import Image
from portal.models import Operation
from tests.compute.test_image_upload import qcow2_bytes, queued_image, roots, store  # noqa: F401 (fixtures)
from tests.openstack.conftest import clouds, login  # noqa: F401 (a fixture)

DATA = qcow2_bytes(virtual_gb=2)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path != "/cirros.qcow2":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def import_from(api, image, body, user="admin"):
    return api[user].post(f"/api/v1/images/{image.pk}/import/", body, format="json")


def test_an_import_from_a_url_is_fetched_by_the_task_and_stored(api, run_tasks, queued_image, server, store):
    with run_tasks():
        response = import_from(api, queued_image, {"url": f"{server}/cirros.qcow2"})
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert (op.kind, op.status, op.detail) == ("image.import", "succeeded", {"url": f"{server}/cirros.qcow2"}), op.error
    image = Image.objects.get(pk=queued_image.pk)
    assert image.state == ImageState.ACTIVE and image.size_bytes == len(DATA)
    assert image.checksum_sha256 == hashlib.sha256(DATA).hexdigest() and image.virtual_size_gb == 2


def test_a_url_answering_an_error_fails_the_operation_with_its_status(api, run_tasks, queued_image, server, store):
    with run_tasks():
        response = import_from(api, queued_image, {"url": f"{server}/missing.qcow2"})
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "404" in op.error, op.error
    assert not store.exists() or list(store.iterdir()) == []


def test_bad_import_requests_are_refused_before_anything_starts(api, queued_image, server, roots):
    for body in (
        {"url": "file:///etc/passwd"},
        {"url": "ftp://example.org/x.qcow2"},
        {"url": f"{server}/cirros.qcow2", "path": str(roots / "x.qcow2")},
        {},
    ):
        response = import_from(api, queued_image, body)
        assert response.status_code == 400 and "url" in response.json(), (body, response.content)
    assert import_from(api, queued_image, {"url": f"{server}/cirros.qcow2"}, user="alice").status_code == 403
    assert not Operation.objects.exists()


def test_a_path_gone_from_the_workers_machine_says_where_it_was_read(
    api, run_tasks, queued_image, roots, store, monkeypatch
):
    source = roots / "cirros.qcow2"
    source.write_bytes(DATA)
    monkeypatch.setattr("compute.services.images.operations.send_after_commit", lambda task, op: None)
    response = import_from(api, queued_image, {"path": str(source)})  # checked on the web node
    source.unlink()  # the worker's machine has no such file
    op = Operation.objects.get(pk=response.json()["id"])
    from compute.tasks.images import import_image

    import_image.apply(args=[op.pk])
    op.refresh_from_db()
    assert op.status == "failed" and "read by the worker that runs the import" in op.error, op.error


def test_the_image_pages_import_form_takes_a_url(admin_user, run_tasks, queued_image, server, store):
    client = Client()
    client.force_login(admin_user)
    with run_tasks():
        response = client.post(f"/compute/images/{queued_image.pk}/import/", {"url": f"{server}/cirros.qcow2"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert Image.objects.get(pk=queued_image.pk).state == ImageState.ACTIVE
    both = client.post(f"/compute/images/{queued_image.pk}/import/", {"url": f"{server}/x", "path": "/x"})
    assert both.status_code == 400 and "Give either a URL or a path." in both.content.decode()


def test_glances_web_download_import_fetches_the_uri(clouds, project_a, admin_user, run_tasks, server, store):
    admin = login(admin_user, project_a)
    glance = "/openstack/image/v2"
    assert admin.call("GET", f"{glance}/info/import").data["import-methods"]["value"] == ["web-download"]
    image = admin.call("POST", f"{glance}/images", {"name": "cirros", "disk_format": "qcow2"}).data
    method = {"method": {"name": "web-download", "uri": f"{server}/cirros.qcow2"}}
    assert clouds["alice"].call("POST", f"{glance}/images/{image['id']}/import", method).status_code == 403
    assert (
        admin.call("POST", f"{glance}/images/{image['id']}/import", {"method": {"name": "glance-direct"}}).status_code
        == 400
    )
    with run_tasks():
        assert admin.call("POST", f"{glance}/images/{image['id']}/import", method).status_code == 202
    shown = admin.call("GET", f"{glance}/images/{image['id']}").data
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
