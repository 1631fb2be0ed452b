"""What Horizon's "Download clouds.yaml / openrc" gives: a user's settings for the OpenStack
clients, pointing at this portal. Passwords are never written; an application credential (a
Nubes API token) is written only when its secret is given, as the token page shows it once."""

from openstack_api import settings as os_settings
from portal.api.authentication import parse_token


def _auth(auth_url, username, project, token):
    if token:
        key_id, secret = parse_token(token)
        return "v3applicationcredential", {
            "auth_url": auth_url,
            "application_credential_id": key_id,
            "application_credential_secret": secret,
        }
    return "password", {
        "auth_url": auth_url,
        "username": username,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def clouds_yaml(base_url, username, project, cloud="nubes", token=None):
    """clouds.yaml text (hand-written YAML: every value is a plain quoted string)."""
    auth_type, auth = _auth(base_url.rstrip("/") + "/openstack/identity/v3", username, project, token)
    lines = ["clouds:", f"  {cloud}:", "    auth:"]
    lines += [f'      {key}: "{value}"' for key, value in auth.items()]
    lines += [
        f'    auth_type: "{auth_type}"',
        f'    region_name: "{os_settings.region()}"',
        '    interface: "public"',
        "    identity_api_version: 3",
    ]
    if not token:
        lines.append("    # password: give it with --os-password or OS_PASSWORD, never stored here")
    return "\n".join(lines) + "\n"


def openrc(base_url, username, project, token=None):
    auth_type, auth = _auth(base_url.rstrip("/") + "/openstack/identity/v3", username, project, token)
    lines = ["# Source this file: . ./openrc.sh"]
    lines += [f'export OS_{key.upper()}="{value}"' for key, value in auth.items()]
    lines += [
        f'export OS_AUTH_TYPE="{auth_type}"',
        f'export OS_REGION_NAME="{os_settings.region()}"',
        'export OS_INTERFACE="public"',
        "export OS_IDENTITY_API_VERSION=3",
    ]
    if not token:
        lines += ['echo "Password for $OS_USERNAME: "', "read -sr OS_PASSWORD", "export OS_PASSWORD"]
    return "\n".join(lines) + "\n"
