from django import forms

from audit.choices import ModelFormat
from audit.models import DatasetVersion, ModelVersion

from .choices import DEFAULT_SWEEP_EPSILONS, MAX_SWEEP_VALUES, MAX_SWEEP_VARIANTS, Accountant


class DPTrainingForm(forms.Form):
    """Start one DP variant (one ε) or a sweep (several, comma-separated) from the dashboard.

    Only types are checked here; the ranges are privacy.dp.validate_params' (one source for the
    page, the API and the command line).
    """

    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), label="Model (torch-zoo)",
                                           empty_label=None)
    dataset_version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset", empty_label=None)
    epsilons = forms.CharField(label="Target ε", initial="2", max_length=MAX_SWEEP_VALUES * 10,
                               help_text=f"one value, or up to {MAX_SWEEP_VARIANTS} comma-separated for a sweep "
                                         f"(e.g. {', '.join(f'{e:g}' for e in DEFAULT_SWEEP_EPSILONS)})")
    delta = forms.FloatField(required=False, label="δ", help_text="blank: the largest power of ten below 1/n")
    max_grad_norm = forms.FloatField(initial=1.0, label="Clipping norm C")
    epochs = forms.IntegerField(initial=5)
    batch_size = forms.IntegerField(initial=256)
    lr = forms.FloatField(initial=1e-3, label="Learning rate")
    seed = forms.IntegerField(initial=0)
    accountant = forms.ChoiceField(choices=Accountant.choices, initial=Accountant.PRV)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        models = ModelVersion.objects.filter(organization=organization, format=ModelFormat.TORCH_ZOO)
        self.fields["model_version"].queryset = models.select_related("system").order_by("system__name", "name",
                                                                                           "-version")
        self.fields["dataset_version"].queryset = DatasetVersion.objects.filter(organization=organization)

    def clean_epsilons(self) -> list[float]:
        try:
            values = [float(part) for part in self.cleaned_data["epsilons"].replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("Give numbers separated by commas, e.g. 0.5, 1, 2") from None
        if not values:
            raise forms.ValidationError("Give at least one ε")
        return values
