"""Dashboard forms of the registry: an AI system's profile, dataset and model uploads.

Each profile field carries one line on why it matters: the compliance items it switches on or off.
"""

from django import forms

from .choices import DATASHEET_FIELDS, GENERATIVE_FORMATS, MODEL_CARD_FIELDS, Modality, ModelFormat
from .models import AISystem, DatasetVersion
from .services import SYSTEM_FIELDS

# Why each profile field matters (COMPLIANCE.md: which checklist items it brings in or leaves out).
WHY = {
    "name": "How people find the system; unique in the organisation.",
    "description": "Free text for colleagues; no legal effect.",
    "intended_purpose": "The purpose the EU AI Act measures everything against (Art. 3(12)); "
                        "it goes into the technical documentation and every report.",
    "domain": "An Annex III area makes the system high-risk (Chapter III obligations: risk management, "
              "data governance, logging, oversight, registration); an Annex I product safety component too.",
    "annex_iii_point": "The exact Annex III point, e.g. 5(b) for creditworthiness; cited in checklists and exports.",
    "role": "Providers carry the design obligations (Art. 16); deployers the use obligations (Art. 26, FRIA).",
    "output_modalities": "Generated text, images, audio or video bring in labelling duties "
                         "(EU Art. 50(2), China's AIGC labelling rules).",
    "public_in_mainland_china": "Brings in China's generative-AI rules: filing, labelling, security assessment.",
    "public_opinion_capacity": "A public-opinion or mobilisation capacity in China requires the security "
                               "assessment and algorithm filing.",
    "users_can_download": "Downloadable output must carry explicit labels in the file (China's labelling measures).",
    "general_purpose": "A general-purpose AI model brings in the GPAI provider duties (Art. 53).",
    "systemic_risk": "Systemic-risk GPAI adds evaluation, incident reporting and cybersecurity duties (Art. 55).",
    "emotion_or_biometric": "Emotion recognition or biometric categorisation requires informing the people "
                            "exposed (Art. 50(3)) and may be prohibited at work or school (Art. 5).",
    "placed_on_eu_market": "Without it no EU AI Act item applies.",
    "placed_before_2026_08_02": "High-risk systems already on the market apply the Act only once "
                                "significantly changed (Art. 111(2)).",
    "placed_on_market_on": "Decides which transition period applies (Art. 111).",
    "significantly_changed": "A significant change after the high-risk date brings the full obligations back.",
    "art6_3_derogation": "Annex III systems that only do narrow procedural tasks may not be high-risk, "
                         "but must document why (Art. 6(3)-(4)).",
    "public_sector": "Public bodies and public-service providers must do a fundamental-rights impact "
                     "assessment (Art. 27) and register their use (Art. 49(3)).",
    "interacts_with_persons": "People must be told they are interacting with an AI system (Art. 50(1)).",
    "biometric_editing": "Editing faces or voices brings in China's deep-synthesis consent and labelling duties.",
    "no_public_opinion_reason": "Why the service has no public-opinion capacity; without a reason Assay "
                                "assumes it has one and the filing items apply.",
}
PROFILE_FIELDS = [f for f in SYSTEM_FIELDS if f != "current_model"]


def _words(field: str) -> str:
    return field.replace("_", " ").capitalize()


class SystemForm(forms.ModelForm):
    """Create or edit an AI system's profile (the fields compliance applicability reads)."""

    output_modalities = forms.MultipleChoiceField(choices=Modality.choices, required=False,
                                                  widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = AISystem
        fields = PROFILE_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "intended_purpose": forms.Textarea(attrs={"rows": 2}),
            "no_public_opinion_reason": forms.Textarea(attrs={"rows": 2}),
            "placed_on_market_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.help_text = WHY.get(name, field.help_text)

    def values(self) -> dict:
        """Return the cleaned profile as services.create_system and update_system take it."""
        return {f: self.cleaned_data[f] for f in PROFILE_FIELDS}


def _list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class DatasetUploadForm(forms.Form):
    """A dataset version: the file, its schema and its datasheet."""

    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="CSV or Parquet; checked before anything is stored.")
    target = forms.CharField(max_length=200, help_text="The column the model predicts.")
    positive_label = forms.CharField(max_length=200, help_text="The favourable outcome, e.g. >50K or yes.")
    features = forms.CharField(required=False, help_text="Model input columns in order, comma-separated "
                                                         "(empty: every other column).")
    categorical = forms.CharField(required=False, help_text="Categorical columns, comma-separated "
                                                            "(empty: the non-numeric ones).")
    sensitive_attributes = forms.CharField(required=False, help_text="Protected attributes the fairness "
                                                                     "metrics group by, e.g. sex, race.")
    split_column = forms.CharField(max_length=200, required=False,
                                   help_text='A column saying "train" or "test" (empty: a seeded split).')
    test_size = forms.FloatField(initial=0.3, min_value=0.01, max_value=0.99,
                                 help_text="Share of rows held out for evaluation without a split column.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in DATASHEET_FIELDS:  # the datasheet: DATA-01 and the Art. 10 items read it
            self.fields[f"datasheet_{name}"] = forms.CharField(label=_words(name), required=False,
                                                               widget=forms.Textarea(attrs={"rows": 1}))

    def datasheet(self) -> dict:
        return {n: self.cleaned_data[f"datasheet_{n}"] for n in DATASHEET_FIELDS if self.cleaned_data[f"datasheet_{n}"]}

    def lists(self) -> dict:
        categorical = _list(self.cleaned_data["categorical"])
        return {"features": _list(self.cleaned_data["features"]), "categorical": categorical or None,
                "sensitive_attributes": _list(self.cleaned_data["sensitive_attributes"])}


class ModelUploadForm(forms.Form):
    """A model version: the file in a safe format, the dataset that validates it, its model card."""

    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text="Never unpickled; a classifier runs in the sandbox on 32 rows before it is "
                                     "stored, a gguf has its header checked.")
    format = forms.ChoiceField(choices=ModelFormat.choices)
    dataset_version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), required=False,
                                             empty_label="— none (gguf: a generative model takes no dataset) —",
                                             help_text="Its first 32 rows check that the model runs on it "
                                                       "(every format but gguf).")
    training_dataset_version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), required=False)

    def __init__(self, *args, system: AISystem, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = DatasetVersion.objects.filter(system=system).order_by("name", "-version")
        self.fields["dataset_version"].queryset = datasets
        self.fields["dataset_version"].initial = datasets.first()  # a classifier's, as before gguf
        self.fields["training_dataset_version"].queryset = datasets
        for name in MODEL_CARD_FIELDS:  # the model card: TRANS-01 and the Art. 11/13 items read it
            self.fields[f"card_{name}"] = forms.CharField(label=_words(name), required=False,
                                                          widget=forms.Textarea(attrs={"rows": 1}))

    def clean(self):
        data = super().clean()
        if data.get("format") and data["format"] not in GENERATIVE_FORMATS and not data.get("dataset_version"):
            self.add_error("dataset_version", "Choose the dataset version that checks the model (every format but gguf).")
        return data

    def model_card(self) -> dict:
        return {n: self.cleaned_data[f"card_{n}"] for n in MODEL_CARD_FIELDS if self.cleaned_data[f"card_{n}"]}


def add_errors(form: forms.Form, exc) -> None:
    """Show a service's AssayError next to the fields it names (the rest above the form)."""
    placed = False
    for field, message in (getattr(exc, "fields", None) or {}).items():
        for name in (field, f"datasheet_{field}", f"card_{field}"):
            if name in form.fields:
                form.add_error(name, message if isinstance(message, str) else "; ".join(map(str, message)))
                placed = True
                break
    if not placed:
        form.add_error(None, str(exc))


class PromoteForm(forms.Form):
    """Why a model version becomes its system's current model (kept in the promotion history)."""

    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Kept in the promotion history and the audit log.")
