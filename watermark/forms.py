from django import forms

from audit.models import AISystem

from . import explicit
from .choices import Corner

FORMAT_CHOICES = [("", "same as the input"), ("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WebP")]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        return [single(d, initial) for d in data] if isinstance(data, list | tuple) else [single(data, initial)]


class StampOptionsForm(forms.Form):
    system = forms.ModelChoiceField(queryset=AISystem.objects.none(), required=False, empty_label="(none)")
    model_version = forms.CharField(required=False, max_length=200, label="Model version")
    text = forms.CharField(required=False, max_length=explicit.MAX_TEXT_LENGTH, label="Label text",
                           help_text="Empty: the policy's")
    corner = forms.ChoiceField(choices=[("", "policy's")] + list(Corner.choices), required=False)
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False, label="Output format")
    visible = forms.BooleanField(required=False, label="Explicit label")
    metadata = forms.BooleanField(required=False, label="AIGC metadata")
    c2pa = forms.BooleanField(required=False, label="C2PA manifest")
    invisible = forms.BooleanField(required=False, label="Invisible watermark")

    def __init__(self, *args, organization=None, policy=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:
            self.fields["system"].queryset = AISystem.objects.filter(organization=organization)
        if policy is not None and not self.is_bound:
            for name, on in policy.layers().items():
                self.fields[name].initial = on


class StampForm(StampOptionsForm):
    file = forms.FileField(label="Image (PNG, JPEG or WebP)")


class BatchForm(StampOptionsForm):
    files = MultipleFileField(label="Images, or one zip of images")


class VerifyForm(forms.Form):
    file = forms.FileField(label="Image to verify")


class PolicyForm(forms.Form):
    visible = forms.BooleanField(required=False, label="Explicit label")
    metadata = forms.BooleanField(required=False, label="AIGC metadata")
    c2pa = forms.BooleanField(required=False, label="C2PA manifest")
    invisible = forms.BooleanField(required=False, label="Invisible watermark")
    label_text = forms.CharField(max_length=explicit.MAX_TEXT_LENGTH, label="Label text")
    corner = forms.ChoiceField(choices=Corner.choices)
    producer_code = forms.CharField(max_length=64, label="AIGC ContentProducer code",
                                    help_text="Your provider code: printable ASCII, no spaces")
