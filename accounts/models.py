"""Organisations, teams and memberships: who may see and do what."""

from django.conf import settings
from django.db import models
from django.utils.text import slugify

from .choices import ROLES_FOR_ACTION, Action, Role

__all__ = ["Organization", "Team", "Membership", "OrganizationOwnedQuerySet", "OrganizationOwned"]


class OrganizationOwnedQuerySet(models.QuerySet):
    """A queryset that knows how to hide what a user may not see or do."""

    organization_path = "organization"

    def restrict(self, user, action: str = Action.VIEW) -> "OrganizationOwnedQuerySet":
        """Return the objects of organisations where `user` holds a role allowed to do `action`."""
        if user is None or not user.is_authenticated:
            return self.none()
        roles = ROLES_FOR_ACTION[action]
        memberships = Membership.objects.filter(user=user, role__in=roles).values("organization_id")
        prefix = self.organization_path
        lookup = "pk__in" if prefix == "" else f"{prefix}__in"
        return self.filter(**{lookup: memberships})


class OrganizationQuerySet(OrganizationOwnedQuerySet):
    organization_path = ""


class Organization(models.Model):
    """A company or public body that registers and governs its AI systems in Assay."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = self._unique_slug()
        super().save(*args, **kwargs)

    def _unique_slug(self) -> str:
        base = slugify(self.name)[:70] or "org"
        if base.isdigit():
            base = f"org-{base}"
        slug, n = base, 1
        while Organization.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        return slug

    def role_of(self, user) -> str | None:
        """Return the user's role in this organisation, or None when not a member."""
        m = self.memberships.filter(user=user).first() if user.is_authenticated else None
        return m.role if m else None


class Team(models.Model):
    """A group of members inside an organisation (e.g. "Model risk")."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=200)

    objects = OrganizationOwnedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="accounts_team_unique_name")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one organisation (a user may belong to several)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="memberships")
    created = models.DateTimeField(auto_now_add=True)

    objects = OrganizationOwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="accounts_membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class OrganizationOwned(models.Model):
    """Abstract base of every object that belongs to an organisation."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    objects = OrganizationOwnedQuerySet.as_manager()

    class Meta:
        abstract = True
