"""Create a dashboard and API user, optionally as a member of an organisation with a role."""

import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.choices import Role
from accounts.models import Membership, Organization
from accounts.permissions import organization_lookup
from accounts.signals import membership_saved


class Command(BaseCommand):
    help = ("Create a user (password from --password-stdin, else generated and printed once) and optionally add "
            "them to an organisation with a role; prints their API token with --token.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        parser.add_argument("--organization", help="id or slug of an organisation to add the user to")
        parser.add_argument("--role", choices=Role.values, default=Role.VIEWER, help="role in --organization")
        parser.add_argument("--token", action="store_true", help="create and print the user's API token")

    def handle(self, *args, **opts):
        User = get_user_model()
        if User.objects.filter(username=opts["username"]).exists():
            raise CommandError(f"A user named {opts['username']!r} exists already.")
        org = self._organization(opts["organization"])
        generated = not opts["password_stdin"]
        password = secrets.token_urlsafe(12) if generated else sys.stdin.readline().rstrip("\n")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        with transaction.atomic():
            user = User.objects.create_user(opts["username"], opts["email"], password)
            if org is not None:
                membership = Membership.objects.create(user=user, organization=org, role=opts["role"])
                membership_saved.send(sender=Membership, membership=membership, created=True, user="manage.py")
        self.stdout.write(f"Created user {user.username!r}" + (f", {opts['role']} of {org.slug}" if org else "") + ".")
        if generated:
            self.stdout.write(f"Password: {password}")
        if opts["token"]:
            self.stdout.write(f"API token: {Token.objects.create(user=user).key}")

    def _organization(self, ref):
        if not ref:
            return None
        org = Organization.objects.filter(**organization_lookup(ref)).first()
        if org is None:
            raise CommandError(f"No organisation {ref!r}.")
        return org
