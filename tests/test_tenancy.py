"""Organisations, members and roles: who belongs where, and how creates find their organisation."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit.models import AISystem


@pytest.fixture
def frank(db):
    return get_user_model().objects.create_user("frank", "Frank@Example.org", "password")


def test_it_makes_the_creator_owner_of_a_new_organisation(as_charlie, charlie):
    # when
    response = as_charlie.post("/api/v1/organizations", {"name": "Charlie Labs"}, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["role"]) == ("charlie-labs", "owner")
    assert Membership.objects.get(organization_id=body["id"]).user == charlie


def test_it_gives_each_organisation_a_unique_slug(as_alice, alice_org):
    # when
    response = as_alice.post("/api/v1/organizations", {"name": "Alice Corp"}, format="json")

    # then
    assert response.json()["slug"] == "alice-corp-2"


def test_it_never_gives_an_organisation_a_slug_that_reads_as_an_id(as_alice, alice_org):
    # when
    org = as_alice.post("/api/v1/organizations", {"name": "2024"}, format="json").json()

    # then
    assert org["slug"] == "org-2024"
    assert as_alice.get(f"/api/v1/organizations/{org['slug']}").json()["id"] == org["id"]


def test_it_finds_an_organisation_by_its_slug(as_bob, alice_org):
    # when
    response = as_bob.get("/api/v1/organizations/alice-corp")

    # then
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["role"]) == (alice_org.pk, "viewer")


@pytest.mark.parametrize("ref", ["frank", "frank@example.org"])
def test_it_adds_a_member_by_username_or_email(ref, as_alice, alice_org, frank):
    # when
    response = as_alice.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": ref, "role": "auditor"},
                             format="json")

    # then
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "frank"
    assert alice_org.role_of(frank) == Role.AUDITOR


def test_it_changes_the_role_of_an_existing_member(as_erin, alice_org, bob):
    # when
    response = as_erin.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "bob", "role": "auditor"},
                            format="json")

    # then
    assert response.status_code == 200
    assert alice_org.role_of(bob) == Role.AUDITOR


def test_it_lets_only_owners_and_admins_add_members(as_dave, alice_org, frank, error_of):
    # when
    response = as_dave.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "frank"}, format="json")

    # then
    assert response.status_code == 403
    assert "owners and admins" in error_of(response)["message"]
    assert alice_org.role_of(frank) is None


def test_it_refuses_an_unknown_user(as_alice, alice_org, error_of):
    # when
    response = as_alice.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "nobody@example.org"},
                             format="json")

    # then
    assert response.status_code == 400
    assert "nobody@example.org" in error_of(response)["fields"]["user"][0]


@pytest.mark.parametrize(("target", "role"), [("frank", "owner"), ("alice", "viewer")])
def test_it_lets_only_an_owner_make_or_unmake_an_owner(target, role, as_erin, alice_org, alice, frank):
    # when
    response = as_erin.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": target, "role": role},
                            format="json")

    # then
    assert response.status_code == 403
    assert alice_org.role_of(alice) == Role.OWNER
    assert alice_org.role_of(frank) is None


def test_it_keeps_an_owner_in_every_organisation(as_alice, alice_org, alice, error_of):
    # when
    response = as_alice.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "alice", "role": "admin"},
                             format="json")

    # then
    assert response.status_code == 400
    assert "role" in error_of(response)["fields"]
    assert alice_org.role_of(alice) == Role.OWNER


def test_it_hands_ownership_over_when_another_owner_exists(as_alice, alice_org, alice, erin):
    # given
    as_alice.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "erin", "role": "owner"}, format="json")

    # when
    response = as_alice.post(f"/api/v1/organizations/{alice_org.pk}/members", {"user": "alice", "role": "admin"},
                             format="json")

    # then
    assert response.status_code == 200
    assert (alice_org.role_of(alice), alice_org.role_of(erin)) == (Role.ADMIN, Role.OWNER)


def test_it_creates_in_the_only_organisation_when_none_is_named(as_dave, alice_org):
    # when
    response = as_dave.post("/api/v1/systems", {"name": "Fraud detection"}, format="json")

    # then
    assert response.status_code == 201
    assert AISystem.objects.get(name="Fraud detection").organization == alice_org


def test_it_asks_a_member_of_several_organisations_to_name_one(as_alice, alice_org, error_of):
    # given
    as_alice.post("/api/v1/organizations", {"name": "Alice Labs"}, format="json")

    # when
    response = as_alice.post("/api/v1/systems", {"name": "Fraud detection"}, format="json")
    named = as_alice.post("/api/v1/systems", {"name": "Fraud detection", "organization": "alice-labs"}, format="json")

    # then
    assert response.status_code == 400
    assert "several" in error_of(response)["fields"]["organization"][0]
    assert named.status_code == 201
    assert AISystem.objects.get().organization.slug == "alice-labs"


def test_it_refuses_a_duplicate_system_name_in_one_organisation(as_alice, alice_system, error_of):
    # when
    response = as_alice.post("/api/v1/systems", {"name": "Credit scoring"}, format="json")

    # then
    assert response.status_code == 400
    assert "name" in error_of(response)["fields"]
    assert AISystem.objects.count() == 1


def test_it_lets_a_member_switch_the_dashboard_only_to_their_organisations(client, alice, alice_org, charlie_org):
    # given
    client.force_login(alice)

    # when
    own = client.post("/organization/switch/", {"organization": alice_org.pk})
    other = client.post("/organization/switch/", {"organization": charlie_org.pk})
    odd = client.post("/organization/switch/", {"organization": "²"})

    # then
    assert own.status_code == 302
    assert (other.status_code, odd.status_code) == (404, 404)


def test_it_creates_an_api_token_from_the_command_line(alice, capsys):
    # when
    call_command("drf_create_token", "alice")

    # then
    token = Token.objects.get(user=alice)
    assert token.key in capsys.readouterr().out


def test_it_lists_organisations_with_the_callers_role(as_dave, alice_org, charlie_org):
    # when
    rows = as_dave.get("/api/v1/organizations").json()["results"]

    # then
    assert [(r["name"], r["role"]) for r in rows] == [("Alice Corp", "auditor")]
    assert Organization.objects.count() == 2
