"""Seed the demo: two tenants with users, then each app's own demo data (hosts, flavors,
images...). Does nothing when already seeded, so `make run` can call it every time.

Never into a database with real hosts unless asked (--force): the demo's simulated hosts and
tenants do not belong beside a real fleet. Every operation the seed starts runs here, in this
process (operations.run_inline): `make run` seeds before the portal starts, and the embedded
broker keeps no queue across processes, so a queued task would never run. For the same reason
the seed starts the embedded default's child processes (its OVN Northbound) as runportal does."""

import importlib

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import module_has_submodule

from portal import embedded
from portal.choices import Role
from portal.models import Membership, Project

# user, staff?, [(project, role)]
DEMO_USERS = [
    ("admin", True, []),
    ("alice", False, [("acme", Role.MEMBER)]),
    ("bob", False, [("acme", Role.READER)]),
    ("charlie", False, [("globex", Role.MEMBER)]),
]


class Command(BaseCommand):
    help = "Create the demo tenants, users and simulated cluster unless already there."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Seed again even if the demo exists, and even beside real hosts."
        )
        parser.add_argument(
            "--if-no-real-hosts",
            action="store_true",
            help="With real hosts registered, say why nothing is seeded and succeed (`make run`).",
        )

    def handle(self, *args, force=False, if_no_real_hosts=False, **options):
        User = get_user_model()
        # alice, not admin: `make lab` makes an admin in a lab-only database
        if User.objects.filter(username="alice").exists() and not force:
            self.stdout.write("Demo already seeded.")
            return
        real = [name for module in demo_modules() for name in getattr(module, "real_resources", list)()]
        if real and not force:
            why = (
                f"Not seeding the demo: this database has real hosts ({', '.join(real)}). The demo's "
                "simulated hosts and tenants would sit beside them; pass --force to seed anyway."
            )
            if if_no_real_hosts:
                self.stdout.write(why)
                return
            raise CommandError(why)
        password = settings.NUBES_DEMO_PASSWORD
        with transaction.atomic():
            for name in ("acme", "globex"):
                Project.objects.get_or_create(name=name, defaults={"description": f"Demo tenant {name}"})
            for username, staff, memberships in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=username, defaults={"is_staff": staff, "is_superuser": staff}
                )
                if created:
                    user.set_password(password)
                    user.save()
                for project, role in memberships:
                    Membership.objects.get_or_create(
                        user=user, project=Project.objects.get(name=project), defaults={"role": role}
                    )
        with embedded.children(self.stdout):
            for module in demo_modules():
                module.seed(self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo seeded. Logins (password {password!r}): admin (cloud admin), alice (acme member), "
                "bob (acme reader), charlie (globex member)."
            )
        )


def demo_modules():
    """Each installed app's demo module (<app>/demo.py), in INSTALLED_APPS order: portal names no app."""
    return [
        importlib.import_module(f"{config.name}.demo")
        for config in apps.get_app_configs()
        if module_has_submodule(config.module, "demo")
    ]
