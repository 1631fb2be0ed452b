"""Print a user's clouds.yaml or openrc for the OpenStack clients (as Horizon offers)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from openstack_api import clouds
from portal.api.authentication import parse_token
from portal.models import Project


class Command(BaseCommand):
    help = "Print clouds.yaml (default) or openrc for a user of this portal's OpenStack-compatible API."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--project", help="Project name (default: the user's first project)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The portal's address as clients reach it")
        parser.add_argument("--format", choices=("clouds", "openrc"), default="clouds")
        parser.add_argument("--cloud", default="nubes", help="The cloud's name in clouds.yaml")
        parser.add_argument("--token", help="A Nubes API token of the user, written as an application credential")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']}.")
        projects = Project.objects.visible_to(user).order_by("name")
        project = projects.filter(name=options["project"]).first() if options["project"] else projects.first()
        if project is None:
            raise CommandError(f"User {user} is in no project {options['project'] or ''}".strip() + ".")
        token = options["token"]
        if token and parse_token(token) is None:
            raise CommandError("--token takes a Nubes API token (nubes_<id>_<secret>).")
        if options["format"] == "openrc":
            text = clouds.openrc(options["url"], user.get_username(), project.name, token=token)
        else:
            text = clouds.clouds_yaml(options["url"], user.get_username(), project.name, options["cloud"], token)
        self.stdout.write(text, ending="")
