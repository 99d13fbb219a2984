"""List filters of the API (django-filter): one FilterSet per list endpoint, one answer for a bad value.

A query parameter that names an id but is not one (``?system=abc``, or beyond the database's range)
answers 400 in the one error shape, naming the parameter:
``{"error": {"code": "invalid", "message": "Invalid input: system: Expected an integer id",
"fields": {"system": ["Expected an integer id"]}}}``; so does a value outside a parameter's choices.
An empty parameter filters nothing.
"""

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Organization
from accounts.permissions import organization_lookup, parse_id

BAD_ID = "Expected an integer id"


class IdField(forms.Field):
    """A database id: digits within the id column's range."""

    default_error_messages = {"invalid": BAD_ID}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        pk = parse_id(value)
        if pk is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return pk


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.Filter):
    """Filter on a foreign key (or primary key) by id; a value that is not an id is a 400."""

    field_class = IdField


def choice_filter(choices, **kwargs) -> filters.ChoiceFilter:
    """Return a filter that accepts one of `choices` (a TextChoices class) and answers 400 to any other value."""
    values = ", ".join(choices.values)
    return filters.ChoiceFilter(choices=choices.choices,
                                error_messages={"invalid_choice": f"Expected one of {values}"}, **kwargs)


class OrganizationScopedFilterSet(filters.FilterSet):
    """Base of every organisation-owned list: ``?organization=`` takes an organisation's id or slug."""

    organization = filters.CharFilter(method="filter_organization")

    def filter_organization(self, queryset, name, value):
        return queryset.filter(organization__in=filter_organizations(Organization.objects.all(), value))


def filter_organizations(queryset, ref: str):
    """Return the organisations of `queryset` that `ref` names (an id or a slug); all of them when it is empty."""
    return queryset.filter(**organization_lookup(ref)) if ref else queryset


def id_param(request, name: str, *, required: bool = False) -> int | None:
    """Return query parameter `name` as an id (None when absent), answering 400 as the filters do when it is not one.

    For endpoints that are not lists (a comparison of two audits, a policy of one system).
    """
    value = request.query_params.get(name, "")
    if not value and not required:
        return None
    pk = parse_id(value)
    if pk is None:
        raise serializers.ValidationError({name: [BAD_ID]})
    return pk
