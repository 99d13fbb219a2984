"""Dashboard forms of organisations: adding a member."""

from django import forms
from django.contrib.auth import get_user_model

from .choices import Role


class MemberForm(forms.Form):
    user = forms.CharField(max_length=254, label="Username or e-mail",
                           help_text="An existing user (python manage.py createuser creates one).")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER,
                             help_text="Viewers read; auditors also upload and audit; admins also manage "
                                       "schedules, thresholds, keys and members; owners also rename or delete.")

    def clean_user(self):
        value = self.cleaned_data["user"].strip()
        User = get_user_model()
        user = User.objects.filter(username=value).first() or User.objects.filter(email__iexact=value).first()
        if user is None:
            raise forms.ValidationError(f"No user with username or e-mail {value!r}: create one with "
                                        "python manage.py createuser.")
        return user
