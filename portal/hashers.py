"""The password hasher: Argon2id with OWASP's first recommended parameters (19 MiB, 2 passes, 1
lane) instead of Django's PBKDF2 at 1,000,000 rounds, which took 2-4 s per sign-in on a busy
2-core host. Same algorithm name as Django's Argon2 hasher, so Django re-hashes a stored password
with these parameters (or from PBKDF2) at the user's next sign-in. bench/login.py measures it."""

from django.contrib.auth.hashers import Argon2PasswordHasher

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PASSES = 2
ARGON2_LANES = 1


class TunedArgon2PasswordHasher(Argon2PasswordHasher):
    memory_cost = ARGON2_MEMORY_KIB
    time_cost = ARGON2_PASSES
    parallelism = ARGON2_LANES
