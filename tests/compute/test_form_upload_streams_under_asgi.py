"""Under the ASGI server (uvicorn, as `make run` and production serve the portal) the browser's
upload form (multipart/form-data) reaches its view while the browser is still sending the file:
Django alone would parse the whole body first (its CSRF middleware reads the form), spooling the
file to a temporary file on the web node, and only then run the view. The proof, over a real
socket: the upload's Operation is running and has stored the first bytes before the client has
sent the rest, with nothing in the temporary directory. A client gone mid-body fails the upload
and leaves nothing; the CSRF check still refuses a form without its token, before any byte is
stored."""

import socket

import pytest
from django.test import Client

from compute.models import Image
from portal.models import Operation
from portal.streaming import streams
from tests.storage.test_upload_streams_under_asgi import no_kept_data, qcow2, server, wait_for  # noqa: F401

MIB = 1 << 20
FILE = 4 * MIB
BOUNDARY = "----NubesFormBoundary7MA4YWxkTrZu0gW"
CSRF_SECRET = "n" * 32  # the csrftoken cookie's secret; the form may carry it unmasked


@pytest.fixture
def dirs(settings, tmp_path):
    """The image store and Django's upload temporary directory, both watched for leftovers."""
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "django-tmp")
    (tmp_path / "django-tmp").mkdir()
    return tmp_path / "store", tmp_path / "django-tmp"


@pytest.fixture
def queued(transactional_db):
    return Image.objects.create(name="debian", volume="debian.qcow2", state="queued")


@pytest.fixture
def session(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client.cookies["sessionid"].value


def form_head(token=CSRF_SECRET):
    fields = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        if token is not None
        else ""
    )
    return (
        fields + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="debian.qcow2"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


FORM_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def start_form_upload(port, image, session, head, data, first):
    """Headers, the form's head and the file's first ``first`` bytes; returns the open socket."""
    length = len(head) + len(data) + len(FORM_TAIL)
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = (
        f"POST /compute/images/{image.pk}/upload/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Origin: http://127.0.0.1:{port}\r\nCookie: sessionid={session}; csrftoken={CSRF_SECRET}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    )
    conn.sendall(request.encode() + head + data[:first])
    return conn


def answer_of(conn):
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    return answer


def running_upload():
    return Operation.objects.filter(kind="image.upload", status="running", progress__gt=0).first()


def test_only_a_multipart_post_to_a_view_that_reads_its_form_as_it_arrives_is_streamed():
    form = [(b"content-type", b"multipart/form-data; boundary=x")]
    upload = {"type": "http", "method": "POST", "path": "/compute/images/1/upload/", "headers": form}
    assert streams(upload)
    assert not streams({**upload, "path": "/compute/images/1/import/"})  # an ordinary form
    assert not streams({**upload, "path": "/nowhere/"})
    assert not streams({**upload, "headers": [(b"content-type", b"application/x-www-form-urlencoded")]})
    assert not streams({**upload, "headers": []})


def test_the_form_upload_is_stored_while_the_browser_is_still_sending(server, queued, session, dirs):  # noqa: F811
    store, django_tmp = dirs
    data = qcow2(FILE)
    with start_form_upload(server, queued, session, form_head(), data, 2 * MIB) as conn:
        op = wait_for(running_upload, "the upload's Operation storing bytes before the whole file was sent")
        assert Image.objects.get(pk=queued.pk).state == "saving"
        assert not list(django_tmp.iterdir()), "the file was spooled by Django's upload handlers"
        conn.sendall(data[2 * MIB :] + FORM_TAIL)
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 302"), answer[:500]
    assert f"location: /compute/images/{queued.pk}/".encode() in answer.lower()  # names are case-blind
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    image = Image.objects.get(pk=queued.pk)
    assert (image.state, image.size_bytes) == ("active", FILE)
    assert sorted(p.name for p in store.iterdir()) == [f"image-{queued.pk}.qcow2"]  # no spool, no part file
    assert not list(django_tmp.iterdir())


def test_a_browser_gone_mid_file_fails_the_upload_and_leaves_nothing(server, queued, session, dirs):  # noqa: F811
    store, django_tmp = dirs
    conn = start_form_upload(server, queued, session, form_head(), qcow2(FILE), 2 * MIB)
    assert_cut_off_upload_leaves_nothing(conn, queued, store, django_tmp)


def assert_cut_off_upload_leaves_nothing(conn, queued, store, django_tmp):
    """Close the client's socket once the upload runs: it fails, the image in error, nothing kept."""
    op = wait_for(running_upload, "the upload starting")
    conn.close()
    wait_for(lambda: Operation.objects.get(pk=op.pk).status == "failed", "the cut-off upload failing")
    op.refresh_from_db()
    assert "the client went away" in op.error, op.error
    image = Image.objects.get(pk=queued.pk)
    assert image.state == "error" and image.size_bytes in (0, None), (image.state, image.size_bytes)
    assert not list(store.iterdir()) and not list(django_tmp.iterdir())


@pytest.mark.parametrize("token", [None, "x" * 32], ids=["no token", "a wrong token"])
def test_the_form_still_needs_its_csrf_token(server, queued, session, dirs, token):  # noqa: F811
    store, _tmp = dirs
    data = qcow2(MIB)
    with start_form_upload(server, queued, session, form_head(token), data, len(data)) as conn:
        conn.sendall(FORM_TAIL)
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
    assert b"CSRF" in answer
    assert not Operation.objects.exists() and Image.objects.get(pk=queued.pk).state == "queued"
    assert not store.exists() or not list(store.iterdir())
