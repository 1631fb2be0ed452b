"""The adapter's settings, from the environment (read when asked, so a test can set them)."""

from portal.env import env_int, env_str

DEFAULT_TTL_S = 3600  # Keystone's default token lifetime is 1 h
MAX_TTL_S = 7 * 24 * 3600


def region():
    return env_str("NUBES_OPENSTACK_REGION", "RegionOne")


def token_ttl_s():
    return env_int("NUBES_OPENSTACK_TOKEN_TTL", DEFAULT_TTL_S, 60, MAX_TTL_S)
