"""What the network app does when other apps' objects go."""

from network.services import security


def remove_default_groups(sender, project, user=None, **kwargs):
    """portal.signals.project_deleting: a project's default security group lives exactly as
    long as the project (it is made implicitly, so no one deletes it by hand)."""
    security.remove_default_groups(project, user)
