"""Passwords are stored with the tuned Argon2id hasher; one stored by Django's PBKDF2 (or by an
older Argon2 setting) still signs in and is re-hashed with the tuned parameters at that sign-in.
(Other tests run with MD5 for speed: these put the portal's own hasher list back.)"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher, make_password
from django.test import Client

from portal import hashers
from portal import settings as portal_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def real_hashers(settings):
    settings.PASSWORD_HASHERS = portal_settings.PASSWORD_HASHERS


def sign_in(username):
    return Client().post("/login/", {"username": username, "password": PASSWORD})


def test_a_new_password_is_stored_with_argon2id_and_the_tuned_parameters(db, real_hashers):
    user = get_user_model().objects.create_user("ann", password=PASSWORD)

    assert user.password.startswith("argon2$argon2id$")
    assert f"m={hashers.ARGON2_MEMORY_KIB},t={hashers.ARGON2_PASSES},p={hashers.ARGON2_LANES}$" in user.password


@pytest.mark.parametrize("old", ["pbkdf2_sha256", "default-argon2"])
def test_a_password_stored_the_old_way_signs_in_and_is_rehashed(db, real_hashers, old):
    if old == "default-argon2":  # Django's own Argon2 parameters (100 MiB, 8 lanes)
        django_argon2 = Argon2PasswordHasher()
        stored = django_argon2.encode(PASSWORD, django_argon2.salt())
        assert "m=102400" in stored
    else:
        stored = make_password(PASSWORD, hasher=old)
    get_user_model().objects.create(username="old", password=stored)

    assert sign_in("old").status_code == 302

    now = get_user_model().objects.get(username="old").password
    assert now != stored and isinstance(identify_hasher(now), hashers.TunedArgon2PasswordHasher)
    assert f"m={hashers.ARGON2_MEMORY_KIB}," in now


def test_a_wrong_password_is_refused_with_the_tuned_hasher(db, real_hashers):
    get_user_model().objects.create_user("ann", password=PASSWORD)

    response = Client().post("/login/", {"username": "ann", "password": "wrong"})

    assert response.status_code == 200 and "_auth_user_id" not in response.wsgi_request.session
