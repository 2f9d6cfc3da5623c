from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from certadmin.accounts.demo import DEMO_USERS, demo_users_seed


class Command(BaseCommand):
    help = "Create the demo users (one per role and a superuser) with their public passwords."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even outside demo mode (never in production).",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEMO_MODE and not force:
            raise CommandError(
                "Refusing to create demo users with public passwords outside demo mode."
            )
        demo_users_seed()
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {password:<22} {role or 'superuser'}")
