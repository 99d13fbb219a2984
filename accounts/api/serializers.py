from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..choices import Role
from ..models import Membership, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role")

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "role", "created"]
        read_only_fields = ["id", "slug", "role", "created"]

    def get_role(self, obj) -> str | None:
        return obj.role_of(self.context["request"].user)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "email", "role", "created"]
        read_only_fields = fields


class AddMemberSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="Username or e-mail of an existing user", max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)

    def validate_user(self, value):
        User = get_user_model()
        user = User.objects.filter(username=value).first() or User.objects.filter(email__iexact=value).first()
        if user is None:
            raise serializers.ValidationError(f"No user with username or e-mail {value!r}")
        return user
