from django import forms

from . import pii
from .choices import CATEGORIES, PolicyAction
from .models import KeywordLibrary, ModerationClassifier, ModerationPolicy


class TryForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20000)
    policy = forms.ModelChoiceField(queryset=ModerationPolicy.objects.none(), required=False, empty_label="Default policy")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = ModerationPolicy.objects.filter(organization=organization)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Only for a new policy")
    action = forms.ChoiceField(choices=PolicyAction.choices)
    libraries = forms.ModelMultipleChoiceField(queryset=KeywordLibrary.objects.none(), required=False,
                                               widget=forms.CheckboxSelectMultiple)
    pii = forms.MultipleChoiceField(choices=[(k, k) for k in pii.KINDS], required=False,
                                    widget=forms.CheckboxSelectMultiple)
    classifier = forms.ModelChoiceField(queryset=ModerationClassifier.objects.none(), required=False,
                                        empty_label="No classifier")
    keep_text = forms.BooleanField(required=False, help_text="Store the moderated text with each decision")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["libraries"].queryset = KeywordLibrary.objects.filter(organization=organization)
        self.fields["classifier"].queryset = ModerationClassifier.objects.filter(
            organization=organization, model_artifact__isnull=False)
        for c in CATEGORIES:
            self.fields[f"threshold_{c}"] = forms.FloatField(min_value=0.01, max_value=1.0, initial=0.5,
                                                             label=f"{c} threshold")

    def config(self) -> dict:
        d = self.cleaned_data
        return {"action": d["action"], "libraries": [lib.pk for lib in d["libraries"]], "pii": list(d["pii"]),
                "classifier": d["classifier"].pk if d["classifier"] else None, "keep_text": d["keep_text"],
                "thresholds": {c: d[f"threshold_{c}"] for c in CATEGORIES if d[f"threshold_{c}"] != 0.5}}


class LibraryUploadForm(forms.Form):
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="CSV, XLSX or JSONL with text, category and/or risk")


class EntryForm(forms.Form):
    text = forms.CharField(max_length=1000)
    category = forms.ChoiceField(choices=[(c, c) for c in CATEGORIES])
    risk = forms.CharField(max_length=8, required=False)
    regex = forms.BooleanField(required=False)


class ClassifierForm(forms.Form):
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="CSV, XLSX or JSONL with text and categories columns")


class EvaluationForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=ModerationPolicy.objects.none(), required=False,
                                    empty_label="Default policy")
    file = forms.FileField(help_text="Labelled set: text and categories columns")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = ModerationPolicy.objects.filter(organization=organization)
