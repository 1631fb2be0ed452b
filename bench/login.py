"""Signing in: milliseconds per login through the login form (POST /login/: form, password
check, session, redirect) with the portal's password hasher, and the password check alone for
it and for Django's default PBKDF2, in a throwaway SQLite database.

    .venv/bin/python bench/login.py [--logins 20]

Prints figures; asserts nothing. The first login of a user whose password was stored by PBKDF2
also re-hashes it (Django's upgrade), so it is timed apart.
"""

import argparse
import os
import shutil
import time

from django_env import DATA_DIR

from compute_ops import report
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.test import Client

PASSWORD = "correct horse battery staple"


def time_logins(client, username, count):
    samples = []
    for _ in range(count):
        client.cookies.clear()
        started = time.perf_counter()
        response = client.post("/login/", {"username": username, "password": PASSWORD})
        samples.append(time.perf_counter() - started)
        assert response.status_code == 302, response.status_code  # signed in, redirected
    return samples


def time_checks(hasher, count):
    encoded = hasher.encode(PASSWORD, hasher.salt())
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        hasher.verify(PASSWORD, encoded)
        samples.append(time.perf_counter() - started)
    return samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    settings.LOGIN_RATE_LIMIT = args.logins * 10  # the bench signs in over and over (read per request)
    try:
        User = get_user_model()
        current = get_hasher()
        print(f"hasher {current.__class__.__name__} ({current.algorithm}), load {os.getloadavg()[0]:.1f}")
        User.objects.create_user("ann", password=PASSWORD)
        time_logins(Client(), "ann", 1)  # warm-up: URL, template and middleware loading
        report("login, portal hasher", time_logins(Client(), "ann", args.logins))
        report("password check, portal", time_checks(current, args.logins))
        report("password check, PBKDF2", time_checks(PBKDF2PasswordHasher(), max(3, args.logins // 4)))
        User.objects.create(username="old", password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
        report("first login, PBKDF2 stored", time_logins(Client(), "old", 1))
        upgraded = User.objects.get(username="old").password.split("$", 1)[0]
        print(f"  stored after that login: {upgraded}")
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
