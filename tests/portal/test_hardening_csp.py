"""Hardening (issue 18): a Content-Security-Policy without 'unsafe-inline' for scripts or styles,
so no template may hold an inline script, event handler, style attribute or style element; the
other security headers beside it.
The browser tests check the pages still work under it (tests/browser/conftest.py fails any
test whose pages the policy refused something on)."""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from compute.models import KeyPair

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
# a <script> element that runs what it holds: no src, and not a JSON data block (json_script)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)
POLICY_STYLES = ["'self'", settings.EMPTY_STYLE_HASH, settings.PLOTLY_MAPLIBRE_STYLE_HASH]


def directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_csp_no_inline_script_in_any_template():
    found = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in INLINE_SCRIPT.finditer(text)]
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in INLINE_HANDLER.finditer(text)]
            found += [f"{path.relative_to(ROOT)}: javascript: URL" for _ in re.finditer("javascript:", text, re.I)]
    assert len(TEMPLATE_DIRS) > 1 and not found, found


@pytest.mark.parametrize("path", ["/login/", "/", "/compute/instances/", "/api/v1/instances/", "/api/docs/"])
def test_csp_header_without_unsafe_inline_script(alice, path):
    client = Client()
    if path != "/login/":  # the sign-in page itself anonymous: it redirects a signed-in user
        client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert policy["style-src"] == POLICY_STYLES and "style-src-attr" not in policy  # no 'unsafe-inline'
    assert policy["default-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert response["Permissions-Policy"].startswith("camera=()")
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin" and response["Cross-Origin-Opener-Policy"] == "same-origin"
    if response["Content-Type"].startswith("text/html"):
        assert not INLINE_SCRIPT.search(response.content.decode())
        assert not INLINE_STYLE.search(response.content.decode())


def test_csp_no_inline_style_in_any_template():
    found = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in INLINE_STYLE.finditer(path.read_text())]
    assert not found, found


@pytest.mark.parametrize("path", ["/admin/", "/admin/compute/keypair/", "/admin/compute/flavor/add/"])
def test_csp_no_inline_style_on_admin_pages(admin_user, path):
    """Django's admin ships one inline <style> (a change list without action bars): templates/admin
    overrides that block with a file."""
    client = Client()
    client.force_login(admin_user)
    response = client.get(path)
    assert response.status_code == 200 and not INLINE_STYLE.search(response.content.decode())


def test_csp_admin_change_list_without_action_bars_links_its_style_file(admin_user, monkeypatch):
    from compute.admin import KeyPairAdmin

    monkeypatch.setattr(KeyPairAdmin, "actions_on_top", False)
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/compute/keypair/").content.decode()
    assert "css/admin_changelist_no_actions.css" in page and not INLINE_STYLE.search(page)


def test_csp_style_hash_is_the_installed_plotly_maplibre_stylesheet():
    """Plotly's bundle injects MapLibre's CSS as a <style> when it loads: the policy allows that
    exact text by its hash. A Plotly upgrade that changes it fails here, not only in a browser."""
    import plotly

    bundle = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    css = re.search(r"\.textContent='(\.maplibregl-map\{[^']*)'", bundle).group(1)
    assert settings.PLOTLY_MAPLIBRE_STYLE_HASH == csp_hash(css)
    assert settings.EMPTY_STYLE_HASH == csp_hash("")


def csp_hash(text):
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def test_csp_api_docs_start_up_script_is_a_file(alice):
    client = Client()
    client.force_login(alice)
    page = client.get("/api/docs/").content.decode()
    assert '<script src="/api/docs/?script="></script>' in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_csp_policy_from_the_environment(monkeypatch):
    import importlib

    import portal.settings as portal_settings

    monkeypatch.setenv("NUBES_CSP", "default-src 'self' https://cdn.example")
    try:
        assert importlib.reload(portal_settings).CONTENT_SECURITY_POLICY == "default-src 'self' https://cdn.example"
    finally:
        monkeypatch.delenv("NUBES_CSP")
        importlib.reload(portal_settings)
    assert "'unsafe-inline'" not in settings.CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]


def test_csp_confirm_text_is_an_escaped_attribute_not_a_script(alice, project_a):
    # Before: onsubmit="return confirm('Delete key pair {{ name|escapejs }}?')"; now plain
    # autoescaped text in data-confirm, which static/js/page.js hands to confirm().
    KeyPair.objects.create(project=project_a, name='k"><b>x', public_key="ssh-ed25519 AAAA k", fingerprint="f")
    client = Client()
    client.force_login(alice)
    page = client.get("/compute/keypairs/").content.decode()
    assert 'data-confirm="Delete key pair k&quot;&gt;&lt;b&gt;x?' in page
