"""python manage.py createuser: how an operator creates a user the README's `members -d user=…` can add."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from core.models import AuditLogEntry


def test_it_creates_a_user_with_a_generated_password_and_a_role(alice_org):
    # when
    out = io.StringIO()
    call_command("createuser", "bob", "--email", "bob@example.org", "--organization", alice_org.slug,
                 "--role", "auditor", "--token", stdout=out)

    # then: bob can log in with the printed password, is an auditor, and the audit log says so
    printed = out.getvalue()
    password = printed.split("Password: ")[1].split()[0]
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(password) and bob.email == "bob@example.org"
    assert alice_org.role_of(bob) == "auditor"
    assert "API token: " in printed
    assert AuditLogEntry.objects.filter(organization=alice_org, action="member.add").exists()


def test_it_reads_the_password_from_stdin(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-pass-phrase\n"))
    call_command("createuser", "carol", "--password-stdin", stdout=io.StringIO())
    assert get_user_model().objects.get(username="carol").check_password("a-long-pass-phrase")


@pytest.mark.parametrize("args, message", [
    (["alice"], "exists already"),
    (["dora", "--organization", "nowhere"], "No organisation"),
])
def test_it_refuses_with_one_line(alice, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("createuser", *args, stdout=io.StringIO())
