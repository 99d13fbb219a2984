from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import get_visible_or_404
from audit.models import DatasetVersion, ModelVersion
from core.api import error_body
from core.viewsets import OrganizationScopedViewSet

from .. import params as dp
from .. import services
from ..filtersets import DPTrainingRunFilterSet
from ..models import DPTrainingRun
from . import serializers as s


class DPTrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """DP training runs: differentially-private variants of a zoo model version, trained by a worker."""

    queryset = DPTrainingRun.objects.all()
    serializer_class = s.DPTrainingRunSerializer
    filterset_class = DPTrainingRunFilterSet

    @extend_schema(parameters=[OpenApiParameter(p, str) for p in ("model_version", "dataset_version", "status",
                                                                   "sweep", "organization")])
    def list(self, request, *args, **kwargs):
        """List DP training runs, newest first; filter by model_version, dataset_version, status, sweep."""
        return super().list(request, *args, **kwargs)

    def _source(self, data) -> tuple[ModelVersion, DatasetVersion]:
        model_version = get_visible_or_404(ModelVersion.objects.all(), self.request.user, pk=data["model_version"])
        self.check_write(model_version)
        dataset_version = get_visible_or_404(DatasetVersion.objects.filter(organization=model_version.organization),
                                             self.request.user, pk=data["dataset_version"])
        return model_version, dataset_version

    @staticmethod
    def _params(data) -> dp.DPParams:
        return dp.DPParams(**{name: data.get(name) for name in services.PARAMETERS if name in data})

    @extend_schema(request=s.DPTrainingStartSerializer, responses={202: s.DPTrainingRunSerializer})
    def create(self, request):
        """Train a DP variant of a torch-zoo model version at a target ε (or a noise multiplier); it is
        queued, registered as a child model version when done, and audited on the same dataset version.
        Poll GET /dp-trainings/{id} for progress."""
        form = s.DPTrainingStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model_version, dataset_version = self._source(form.validated_data)
        run = services.start_dp_training(user=request.user, model_version=model_version,
                                         dataset_version=dataset_version, params=self._params(form.validated_data))
        return Response(s.DPTrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.DPSweepSerializer, responses={202: s.DPSweepResponseSerializer})
    @action(detail=False, methods=["post"])
    def sweep(self, request):
        """Train one variant per ε (default 0.5, 1, 2, 4, 8) with the other parameters shared; the
        dashboard's privacy page draws ε against accuracy, FAIR-03 and PRIV-01 with the parent as reference."""
        form = s.DPSweepSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model_version, dataset_version = self._source(form.validated_data)
        runs = services.start_sweep(user=request.user, model_version=model_version, dataset_version=dataset_version,
                                    epsilons=form.validated_data["epsilons"], params=self._params(form.validated_data))
        return Response({"sweep": str(runs[0].sweep), "runs": s.DPTrainingRunSerializer(runs, many=True).data},
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: s.DPTrainingRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued run, or ask a running one to stop; 409 when it already finished."""
        run = self.get_object()
        self.check_write(run)
        try:
            run = services.cancel_dp_training(run, user=request.user)
        except services.DPTrainingError as exc:
            return Response(error_body("conflict", str(exc)), status=status.HTTP_409_CONFLICT)
        return Response(s.DPTrainingRunSerializer(run).data)
