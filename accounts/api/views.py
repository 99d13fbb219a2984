from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..choices import Action, Role
from ..models import Membership, Organization
from ..permissions import get_visible_or_404, organization_lookup, require
from ..signals import membership_saved, organization_created
from .serializers import AddMemberSerializer, MembershipSerializer, OrganizationSerializer


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          viewsets.GenericViewSet):
    """Organisations the caller belongs to; any user may create one and becomes its owner.

    Not an OrganizationScopedViewSet (core builds on accounts, not the other way round): creating is
    open to every signed-in user, and the one other write, adding a member, checks its role itself.
    """

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer

    def get_queryset(self):
        return Organization.objects.restrict(self.request.user, Action.VIEW)

    def get_object(self):
        lookup = organization_lookup(self.kwargs["pk"])
        return get_visible_or_404(Organization.objects.all(), self.request.user, **lookup)

    def perform_create(self, serializer):
        with transaction.atomic():
            org = serializer.save()
            Membership.objects.create(user=self.request.user, organization=org, role=Role.OWNER)
            organization_created.send(sender=Organization, organization=org, user=self.request.user)

    @extend_schema(request=AddMemberSerializer, responses={201: MembershipSerializer, 200: MembershipSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=AddMemberSerializer)
    def members(self, request, pk=None):
        """List the members (GET), or add a user by username or e-mail with a role (POST; owners and admins)."""
        org = self.get_object()
        if request.method == "GET":
            rows = org.memberships.select_related("user").order_by("id")
            return Response(MembershipSerializer(rows, many=True).data)
        require(request.user, org, Action.MANAGE)
        serializer = AddMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, role = serializer.validated_data["user"], serializer.validated_data["role"]
        current = org.role_of(user)
        if Role.OWNER in (role, current):
            require(request.user, org, Action.OWN)
        other_owners = org.memberships.filter(role=Role.OWNER).exclude(user=user)
        if current == Role.OWNER and role != Role.OWNER and not other_owners.exists():
            raise serializers.ValidationError({"role": ["The organisation needs an owner: make another member owner first"]})
        with transaction.atomic():
            membership, created = Membership.objects.update_or_create(
                user=user, organization=org, defaults={"role": role}
            )
            membership_saved.send(sender=Membership, membership=membership, created=created, user=request.user)
        return Response(MembershipSerializer(membership).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
