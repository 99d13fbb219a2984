from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core import auditlog
from core.viewsets import OrganizationScopedViewSet

from ..choices import Action, Role
from ..models import Membership, Organization
from ..permissions import get_visible_or_404, organization_lookup
from .serializers import AddMemberSerializer, MembershipSerializer, OrganizationSerializer


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          OrganizationScopedViewSet):
    """Organisations the caller belongs to; any user may create one and becomes its owner."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    open_actions = ("create",)  # any signed-in user may create an organisation
    filterset_class = None

    def get_queryset(self):
        return Organization.objects.restrict(self.request.user, Action.VIEW)

    def get_object(self):
        lookup = organization_lookup(self.kwargs["pk"])
        return get_visible_or_404(Organization.objects.all(), self.request.user, **lookup)

    def perform_create(self, serializer):
        with transaction.atomic():
            org = serializer.save()
            Membership.objects.create(user=self.request.user, organization=org, role=Role.OWNER)
            auditlog.record("organization.create", organization=org, actor=self.request.user, obj=org,
                            payload={"name": org.name, "slug": org.slug})

    @extend_schema(request=AddMemberSerializer, responses={201: MembershipSerializer, 200: MembershipSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=AddMemberSerializer)
    def members(self, request, pk=None):
        """List the members (GET), or add a user by username or e-mail with a role (POST; owners and admins)."""
        org = self.get_object()
        if request.method == "GET":
            rows = org.memberships.select_related("user").order_by("id")
            return Response(MembershipSerializer(rows, many=True).data)
        self.check_write(org, Action.MANAGE)
        serializer = AddMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, role = serializer.validated_data["user"], serializer.validated_data["role"]
        current = org.role_of(user)
        if Role.OWNER in (role, current):
            self.check_write(org, Action.OWN)
        other_owners = org.memberships.filter(role=Role.OWNER).exclude(user=user)
        if current == Role.OWNER and role != Role.OWNER and not other_owners.exists():
            raise serializers.ValidationError({"role": ["The organisation needs an owner: make another member owner first"]})
        with transaction.atomic():
            membership, created = Membership.objects.update_or_create(
                user=user, organization=org, defaults={"role": role}
            )
            auditlog.record("member.add" if created else "member.role", organization=org, actor=request.user,
                            obj=membership, payload={"user": user.username, "role": role})
        return Response(MembershipSerializer(membership).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
