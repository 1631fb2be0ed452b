"""Key pairs through the browser: create (the private key downloaded once), import, delete with
a confirmation, the launch form's choice; a reader (bob) sees them but no control to change them."""

import re
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import expect

from compute.models.catalog import ssh_fingerprint

pytestmark = pytest.mark.browser


def public_half(private_pem):
    key = serialization.load_ssh_private_key(private_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_a_member_creates_downloads_once_launches_with_and_deletes_a_key_pair(login):
    page = login("alice")
    name = f"laptop-{uuid.uuid4().hex[:6]}"
    page.goto("/compute/keypairs/")
    page.click("text=Create key pair")
    page.fill("input[name=name]", name)
    page.click("#keypair-form button[type=submit]")
    expect(page.locator("h1")).to_have_text(f"Key pair {name}")

    with page.expect_download() as download_info:
        page.click("#download-private-key")
    download = download_info.value
    assert download.suggested_filename == f"{name}.pem"
    private_pem = open(download.path(), "rb").read()
    assert private_pem.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    # The downloaded key is the private half of the key the portal keeps.
    fingerprint = page.locator("#fingerprint").inner_text()
    assert ssh_fingerprint(public_half(private_pem)) == fingerprint

    # Once: the list (and the API) never show the private key again.
    page.goto("/compute/keypairs/")
    row = page.locator(f"#keypairs tr[data-keypair='{name}']")
    expect(row.locator("[data-field=fingerprint]")).to_have_text(fingerprint)
    assert "PRIVATE KEY" not in page.content()
    api_rows = page.request.get(f"/api/v1/keypairs/?search={name}").json()["results"]
    assert [r["name"] for r in api_rows] == [name] and "private_key" not in api_rows[0]

    # The launch form offers the project's key pairs.
    page.goto("/compute/instances/launch/")
    assert name in page.locator("select[name=key_pair] option").all_inner_texts()

    # Delete asks first: dismissed, nothing happens; accepted, the key pair is gone.
    page.goto("/compute/keypairs/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button.danger").click()
    expect(row).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    expect(page.locator(".flash")).to_contain_text(f"Deleted key pair {name}")
    expect(row).to_have_count(0)
    assert page.request.get(f"/api/v1/keypairs/?search={name}").json()["results"] == []


def test_a_member_imports_a_public_key_and_a_bad_one_is_a_form_error(login):
    page = login("alice")
    name = f"imported-{uuid.uuid4().hex[:6]}"
    public = Ed25519PrivateKey.generate().public_key()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

    page.goto("/compute/keypairs/import/")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=public_key]", "ssh-ed25519 not-base64!")
    page.click("#keypair-form button[type=submit]")
    expect(page.locator("[data-error-for=public_key]")).to_contain_text("public key")
    expect(page.locator("input[name=name]")).to_have_value(name)  # what the user typed stays
    assert page.request.get(f"/api/v1/keypairs/?search={name}").json()["results"] == []

    page.fill("textarea[name=public_key]", f"{openssh} me@laptop")
    page.click("#keypair-form button[type=submit]")
    row = page.locator(f"#keypairs tr[data-keypair='{name}']")
    expect(row.locator("[data-field=fingerprint]")).to_have_text(ssh_fingerprint(openssh))

    # The same name again in the same project: a field error, not a 500.
    page.goto("/compute/keypairs/import/")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=public_key]", openssh)
    page.click("#keypair-form button[type=submit]")
    expect(page.locator("[data-error-for=name]")).to_contain_text("already has a key pair")

    page.once("dialog", lambda dialog: dialog.accept())
    page.goto("/compute/keypairs/")
    row.locator("button.danger").click()
    expect(row).to_have_count(0)


def test_a_reader_sees_key_pairs_but_no_control_to_change_them(login, chromium, portal_url):
    alice = login("alice")
    name = f"shared-{uuid.uuid4().hex[:6]}"
    alice.goto("/compute/keypairs/new/")
    alice.fill("input[name=name]", name)
    alice.click("#keypair-form button[type=submit]")
    expect(alice.locator("#fingerprint")).not_to_be_empty()

    context = chromium.new_context(base_url=portal_url)
    try:
        from tests.browser.conftest import sign_in

        bob = sign_in(context.new_page(), "bob")
        bob.goto("/compute/keypairs/")
        row = bob.locator(f"#keypairs tr[data-keypair='{name}']")
        expect(row).to_have_count(1)
        expect(row.locator("button, form")).to_have_count(0)
        expect(bob.locator("text=Create key pair")).to_have_count(0)
        expect(bob.locator("text=Import public key")).to_have_count(0)
        assert bob.goto("/compute/keypairs/new/").status == 403
        assert bob.goto("/compute/keypairs/import/").status == 403
    finally:
        context.close()
    alice.goto("/compute/keypairs/")
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.locator(f"#keypairs tr[data-keypair='{name}'] button.danger").click()
    expect(alice.locator(f"#keypairs tr[data-keypair='{name}']")).to_have_count(0)


def test_the_flavor_and_key_pair_lists_search_and_sort_from_their_headers(login):
    page = login("alice")
    page.goto("/compute/flavors/")
    page.click("#flavors thead a:text-is('vCPU')")
    expect(page).to_have_url(re.compile(r"sort=vcpus"))
    vcpus = [int(v) for v in page.locator("#flavors tbody td[data-field=vcpus]").all_inner_texts()]
    assert len(vcpus) >= 2 and vcpus == sorted(vcpus), vcpus
    page.fill("#flavor-filter input[name=q]", "m1.tiny")
    page.click("#flavor-filter button[type=submit]")
    expect(page.locator("#flavors tbody tr[data-id]")).to_have_count(1)
    expect(page.locator("#flavors tbody tr[data-id]")).to_contain_text("MiB")

    tag = uuid.uuid4().hex[:6]
    for name in (f"b-{tag}", f"a-{tag}"):
        page.goto("/compute/keypairs/new/")
        page.fill("input[name=name]", name)
        page.click("#keypair-form button[type=submit]")
        expect(page.locator("h1")).to_have_text(f"Key pair {name}")
    page.goto(f"/compute/keypairs/?q={tag}&sort=-name")
    expect(page.locator("#keypairs tbody td[data-field=name]")).to_have_text([f"b-{tag}", f"a-{tag}"])
    page.click("#keypairs thead a:text-is('Name')")  # the header turns the order round
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(page.locator("#keypairs tbody td[data-field=name]")).to_have_text([f"a-{tag}", f"b-{tag}"])
