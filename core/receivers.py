"""What core does when accounts announces a write: append it to the audit log (connected in CoreConfig.ready)."""

from __future__ import annotations

from . import auditlog


def log_organization_created(sender, organization, user, **kwargs) -> None:
    """On organization_created: the first entry of the new organisation's chain."""
    auditlog.record("organization.create", organization=organization, actor=user, obj=organization,
                    payload={"name": organization.name, "slug": organization.slug})


def log_membership_saved(sender, membership, created: bool, user, **kwargs) -> None:
    """On membership_saved: a member added, or a member's role changed."""
    auditlog.record("member.add" if created else "member.role", organization=membership.organization, actor=user,
                    obj=membership, payload={"user": membership.user.username, "role": membership.role})
