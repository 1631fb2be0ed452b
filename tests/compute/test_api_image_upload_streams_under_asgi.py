"""Under the ASGI server (uvicorn, as `make run` and production serve the portal) the native API's
image upload, `POST /api/v1/images/<id>/upload/` with a raw body or a multipart form, reaches its
view while the client is still sending: Django alone reads a POST's whole body first, spooling it
to a temporary file on the web node past 2.5 MiB. The proof, over a real socket: the upload's
Operation is running and has stored the first bytes before the client has sent the rest, with
nothing in Django's temporary directory. A client gone mid-body fails the upload and keeps
nothing; refused data is a 400 naming the field; a member's token is refused before anything."""

import socket

import pytest

from compute.models import Image
from portal.models import ApiToken, Operation
from portal.streaming import streams
from tests.compute.test_form_upload_streams_under_asgi import (  # noqa: F401
    BOUNDARY,
    FORM_TAIL,
    answer_of,
    assert_cut_off_upload_leaves_nothing,
    dirs,
)
from tests.storage.test_upload_streams_under_asgi import no_kept_data, qcow2, server, wait_for  # noqa: F401

MIB = 1 << 20
FILE = 4 * MIB
FORM_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="debian.qcow2"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()
KINDS = {  # Content-Type, what goes before the image's bytes, what after
    "raw": ("application/octet-stream", b"", b""),
    "multipart": (f"multipart/form-data; boundary={BOUNDARY}", FORM_HEAD, FORM_TAIL),
}


@pytest.fixture
def queued(transactional_db):
    return Image.objects.create(name="debian", volume="debian.qcow2", state="queued")


@pytest.fixture
def admin_token(admin_user):
    return ApiToken.issue(admin_user, "upload")[1]


def start_upload(port, image, token, kind, data, first):
    """Headers, the form's head if any and the data's first ``first`` bytes; returns the socket."""
    content_type, head, tail = KINDS[kind]
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = (
        f"POST /api/v1/images/{image.pk}/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(head) + len(data) + len(tail)}\r\nConnection: close\r\n\r\n"
    )
    conn.sendall(request.encode() + head + data[:first])
    return conn


def upload_whole(port, image, token, kind, data):
    with start_upload(port, image, token, kind, data, len(data)) as conn:
        conn.sendall(KINDS[kind][2])
        return answer_of(conn)


def running_upload():
    return Operation.objects.filter(kind="image.upload", status="running", progress__gt=0).first()


def test_a_raw_or_multipart_post_to_the_image_upload_is_streamed_and_nothing_else_is():
    upload = {"type": "http", "method": "POST", "path": "/api/v1/images/7/upload/"}
    for content_type in (b"application/octet-stream", b"multipart/form-data; boundary=x"):
        assert streams({**upload, "headers": [(b"content-type", content_type)]})
    assert streams({**upload, "headers": []})  # no declared type: a raw body
    assert not streams({**upload, "headers": [(b"content-type", b"application/json")]})
    assert not streams({**upload, "path": "/api/v1/images/7/import/", "headers": []})
    assert not streams({**upload, "path": "/api/v1/images/", "headers": []})
    # the browser form's view streams a form only, never a raw body
    assert not streams({**upload, "path": "/compute/images/7/upload/", "headers": []})


@pytest.mark.parametrize("kind", KINDS)
def test_the_upload_is_stored_while_the_client_is_still_sending(server, queued, admin_token, dirs, kind):  # noqa: F811
    store, django_tmp = dirs
    data = qcow2(FILE)
    with start_upload(server, queued, admin_token, kind, data, 2 * MIB) as conn:
        op = wait_for(running_upload, "the upload's Operation storing bytes before the whole body was sent")
        assert Image.objects.get(pk=queued.pk).state == "saving"
        assert not list(django_tmp.iterdir()), "the body was spooled by Django"
        conn.sendall(data[2 * MIB :] + KINDS[kind][2])
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 202"), answer[:500]
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    image = Image.objects.get(pk=queued.pk)
    assert (image.state, image.size_bytes) == ("active", FILE)
    assert sorted(p.name for p in store.iterdir()) == [f"image-{queued.pk}.qcow2"]
    assert not list(django_tmp.iterdir())


@pytest.mark.parametrize("kind", KINDS)
def test_a_client_gone_mid_body_fails_the_upload_and_leaves_nothing(server, queued, admin_token, dirs, kind):  # noqa: F811
    store, django_tmp = dirs
    conn = start_upload(server, queued, admin_token, kind, qcow2(FILE), 2 * MIB)
    assert_cut_off_upload_leaves_nothing(conn, queued, store, django_tmp)


@pytest.mark.parametrize("kind, field", [("raw", b'"body"'), ("multipart", b'"file"')])
def test_refused_data_is_a_400_naming_the_field_and_keeps_nothing(server, queued, admin_token, dirs, kind, field):  # noqa: F811
    store, _tmp = dirs
    answer = upload_whole(server, queued, admin_token, kind, b"NOTQCOW!" + bytes(MIB))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:500]
    assert field + b':["' in answer and b"Not a qcow2 image" in answer, answer[-500:]
    assert Operation.objects.get().status == "failed"
    assert Image.objects.get(pk=queued.pk).state == "error" and not list(store.iterdir())


def test_a_form_without_its_file_field_is_a_400_before_anything_starts(server, queued, admin_token, dirs):  # noqa: F811
    form = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'.encode()
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        conn.sendall(
            f"POST /api/v1/images/{queued.pk}/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {admin_token}\r\nContent-Type: {KINDS['multipart'][0]}\r\n"
            f"Content-Length: {len(form) + len(FORM_TAIL) - 2}\r\nConnection: close\r\n\r\n".encode()
            + form
            + FORM_TAIL[2:]
        )
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 400") and b'"file":["' in answer, answer[:500]
    assert not Operation.objects.exists() and Image.objects.get(pk=queued.pk).state == "queued"


@pytest.mark.parametrize("kind", KINDS)
def test_a_member_and_another_project_are_refused_before_anything_is_stored(
    server,
    queued,
    alice,
    project_b,
    dirs,
    kind,  # noqa: F811
):
    store, _tmp = dirs
    private = Image.objects.create(
        name="theirs", volume="theirs.qcow2", state="queued", visibility="private", project=project_b
    )
    token = ApiToken.issue(alice, "upload")[1]
    for image in (queued, private):  # the API refuses a member before it looks the image up
        answer = upload_whole(server, image, token, kind, qcow2(MIB))
        assert answer.startswith(b"HTTP/1.1 403"), (image.name, answer[:300])
    assert not Operation.objects.exists()
    assert set(Image.objects.values_list("state", flat=True)) == {"queued"}
    assert not store.exists() or not list(store.iterdir())
