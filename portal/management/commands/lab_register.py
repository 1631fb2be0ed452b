"""Register the lab made by `make lab` in the portal (cluster, hosts, pools, flavor, image, OVN)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal import lab
from portal.celery import app as celery_app


class Command(BaseCommand):
    help = "Register lab/state/lab.json's hosts, pools, flavor and guest image. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--lab-json", default=str(lab.LAB_JSON))
        parser.add_argument(
            "--network-uris",
            action="store_true",
            help="Register every host by its lab address (qemu+tcp://), host A too, as a fleet does.",
        )
        parser.add_argument(
            "--provider-network",
            action="store_true",
            help="Also make lab.json's provider network an external network with a floating pool (`make lab`).",
        )
        parser.add_argument("--user", default="admin", help="The cloud admin the operations are recorded for.")

    def handle(self, *args, lab_json, user, network_uris=False, provider_network=False, **options):
        try:
            data = lab.load(lab_json)
        except lab.LabNotUp as exc:
            raise CommandError(str(exc)) from exc
        admin = self.cloud_admin(user)
        # A command has no worker beside it: run the operations it starts here, in order.
        celery_app.conf.task_always_eager = True
        made = lab.register(
            admin, data, network_uris=network_uris, provider_network=provider_network, service_templates=True
        )
        for host in made["hosts"]:
            host.refresh_from_db()
            self.stdout.write(f"host {host.name}: {host.uri} [{host.state}] {host.state_reason}")
        for pool in made["pools"]:
            pool.refresh_from_db()
            self.stdout.write(f"pool {pool.name}: {pool.state}")
        self.stdout.write(f"flavor {made['flavor'].name}, image {made['image'].name} (kernel boot)")
        for name, check in made["chassis"].items():
            self.stdout.write(f"chassis {name}: {check}")
        ovn = made["ovn"]
        self.stdout.write(
            f"OVN deployment: NB {ovn.nb_connection}, SB {ovn.sb_connection}, gateway chassis "
            f"{ovn.gateway_chassis or '-'}, {ovn.encap_type} (`make run` puts networks there)"
        )
        if "service_template" in made:
            template = made["service_template"]
            self.stdout.write(
                f"service template {template.name}: image {template.image.name} ({template.image.volume}), "
                f"flavor {made['service_flavor'].name}"
                if template
                else made["service_note"]
            )
        network = made.get("provider_network")
        if network is not None:
            subnet = network.subnets.first()
            pools = subnet.allocation_pools if subnet else []
            self.stdout.write(
                f"provider network {network.name}: external, flat on {network.physical_network}, "
                f"{subnet.cidr if subnet else 'no subnet'}, floating IPs {pools} [{network.state}]"
            )
        self.stdout.write(
            f"Start the portal on the lab: make run   (then http://127.0.0.1:8000/, sign in as {admin.username})"
        )

    def cloud_admin(self, username):
        """The named cloud admin; made (with the demo password) when the database has no user
        of that name, so a lab-only database can be signed into. Never promotes a user."""
        User = get_user_model()
        admin = User.objects.filter(username=username).first()
        if admin is None:
            admin = User.objects.create_user(username, is_staff=True, is_superuser=True)
            admin.set_password(settings.NUBES_DEMO_PASSWORD)
            admin.save()
            self.stdout.write(f"cloud admin {username!r} created (password {settings.NUBES_DEMO_PASSWORD!r})")
        elif not admin.is_staff:
            raise CommandError(f"{username!r} is not a cloud admin: pass --user with one.")
        return admin
