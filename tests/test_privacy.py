"""DP training runs through the API, the worker path, the command line and the dashboard."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from opacus.accountants import create_accountant

from audit import jobs, services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AuditRun, ModelVersion
from core import artifacts
from core.models import AuditLogEntry
from privacy import dp
from privacy import services as dp_services
from privacy.models import DPTrainingRun

pytestmark = pytest.mark.filterwarnings("ignore:Optimal order is the")
URL = "/api/v1/dp-trainings"


def _frame(n=600, seed=0, noise=0.5, extra=0) -> pd.DataFrame:
    """Return a table with a minority group (sex F, one row in five); `extra` adds pure-noise columns."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.2, "F", "M")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + (sex == "M") * 0.5 + rng.normal(scale=noise, size=n) > 0.3, "yes", "no")
    columns = {"x1": x1, "x2": x2, **{f"n{i}": rng.normal(size=n) for i in range(extra)}}
    return pd.DataFrame({**columns, "colour": rng.choice(["red", "blue"], n), "sex": sex, "y": y})


def _register(user, system, frame: pd.DataFrame, name: str):
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return services.register_dataset(user=user, system=system, name=name, filename=f"{name}.csv",
                                     data=buffer.getvalue(),
                                     schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))


@pytest.fixture
def parent(alice, alice_system):
    """A small zoo MLP trained without DP on 420 training rows, and its dataset version."""
    dataset = _register(alice, alice_system, _frame(), "synthetic")
    model = train_and_register(dataset, architecture="mlp", args={"hidden": [8]}, epochs=3, name="scorer", user=alice)
    return model, dataset


@pytest.fixture
def onnx_model(alice, alice_system, parent):
    artifact = artifacts.store(b"onnx bytes", organization=alice_system.organization, filename="model.onnx")
    return ModelVersion.objects.create(organization=alice_system.organization, system=alice_system, name="black box",
                                       version=1, artifact=artifact, created_by=alice, format="onnx",
                                       classes=["no", "yes"], features=["x1", "x2"], validated_on=parent[1])


def _body(parent, **fields) -> dict:
    model, dataset = parent
    return {"model_version": model.pk, "dataset_version": dataset.pk, "epochs": 2, "batch_size": 64, **fields}


class TestStart:
    def test_it_queues_a_run_and_round_trips_its_parameters(self, as_alice, parent):
        # given: every parameter spelled out
        params = {"epsilon": 1.5, "delta": 1e-4, "max_grad_norm": 0.7, "epochs": 3, "batch_size": 32, "lr": 0.01,
                  "seed": 11, "accountant": "rdp"}

        # when
        created = as_alice.post(URL, _body(parent, **params), format="json")
        fetched = as_alice.get(f"{URL}/{created.json()['id']}")

        # then: 202, queued, and the same parameters read back (no noise multiplier asked for)
        assert created.status_code == 202, created.json()
        body = fetched.json()
        assert {k: body[k] for k in params} == params
        assert body["noise_multiplier"] is None and body["status"] == "queued" and body["n_train"] == 420
        assert (body["model_version"], body["dataset_version"]) == (parent[0].pk, parent[1].pk)
        assert AuditLogEntry.objects.filter(action="dp.start", object_id=str(body["id"])).exists()

    def test_a_noise_multiplier_round_trips_instead_of_epsilon(self, as_alice, parent):
        body = as_alice.post(URL, _body(parent, noise_multiplier=1.1), format="json").json()
        assert (body["epsilon"], body["noise_multiplier"]) == (None, 1.1)

    def test_delta_defaults_to_the_largest_power_of_ten_below_one_over_n(self, as_alice, parent):
        body = as_alice.post(URL, _body(parent, epsilon=1.0), format="json").json()
        assert body["delta"] == 1e-3  # 1/420 = 2.4e-3

    @pytest.mark.parametrize(("fields", "field"), [
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": -2}, "epsilon"),
        ({"epsilon": 1, "noise_multiplier": 1}, "epsilon"),
        ({}, "epsilon"),
        ({"noise_multiplier": 0}, "noise_multiplier"),
        ({"epsilon": 1, "delta": 1 / 420}, "delta"),
        ({"epsilon": 1, "delta": 0.01}, "delta"),
        ({"epsilon": 1, "epochs": 0}, "epochs"),
        ({"epsilon": 1, "batch_size": 0}, "batch_size"),
        ({"epsilon": 1, "batch_size": -5}, "batch_size"),
        ({"epsilon": 1, "max_grad_norm": 0}, "max_grad_norm"),
        ({"epsilon": 1, "lr": -1}, "lr"),
        ({"epsilon": 1, "epochs": "many"}, "epochs"),
        ({"epsilon": 1, "accountant": "gdp"}, "accountant"),
    ])
    def test_invalid_input_is_a_400_that_changes_nothing(self, as_alice, parent, error_of, fields, field):
        response = as_alice.post(URL, _body(parent, **fields), format="json")
        assert response.status_code == 400
        assert field in error_of(response)["fields"]
        assert not DPTrainingRun.objects.exists()

    def test_a_model_that_is_not_a_zoo_architecture_is_refused(self, as_alice, parent, onnx_model, error_of):
        response = as_alice.post(URL, _body(parent, model_version=onnx_model.pk, epsilon=1), format="json")
        assert response.status_code == 400
        assert "DP training needs a trainable zoo architecture" in error_of(response)["message"]
        assert not DPTrainingRun.objects.exists()

    def test_a_viewer_may_not_start_one_and_an_outsider_does_not_see_the_model(self, as_bob, as_charlie, parent):
        assert as_bob.post(URL, _body(parent, epsilon=1), format="json").status_code == 403
        assert as_charlie.post(URL, _body(parent, epsilon=1), format="json").status_code == 404

    def test_others_do_not_see_the_run(self, as_alice, as_charlie, as_bob, parent):
        run_id = as_alice.post(URL, _body(parent, epsilon=1), format="json").json()["id"]
        assert as_charlie.get(f"{URL}/{run_id}").status_code == 404
        assert as_charlie.get(URL).json()["results"] == []
        assert as_bob.get(f"{URL}/{run_id}").status_code == 200


class TestQueue:
    @pytest.mark.parametrize(("gpu", "queue"), [(False, "cpu"), (True, "gpu")])
    def test_it_goes_to_the_gpu_queue_when_gpu_workers_are_configured(self, settings, monkeypatch, alice, parent,
                                                                      django_capture_on_commit_callbacks, gpu, queue):
        from privacy import tasks

        settings.ASSAY_GPU_QUEUE = gpu
        sent = []
        monkeypatch.setattr(tasks.execute_dp_training_task, "apply_async",
                            lambda args, queue: sent.append((args, queue)))
        with django_capture_on_commit_callbacks(execute=True):
            run = dp_services.start_dp_training(user=alice, model_version=parent[0], dataset_version=parent[1],
                                                params=dp.DPParams(epsilon=1.0), reference_audit=False)
        assert sent == [((run.pk,), queue)]


class TestCancel:
    def test_a_queued_run_is_cancelled_at_once_and_a_second_cancel_is_a_conflict(self, as_alice, parent):
        run_id = as_alice.post(URL, _body(parent, epsilon=1), format="json").json()["id"]

        response = as_alice.post(f"{URL}/{run_id}/cancel")

        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        assert as_alice.post(f"{URL}/{run_id}/cancel").status_code == 409
        dp_services.execute_dp_training(run_id)  # a late delivery of its task does nothing
        assert DPTrainingRun.objects.get(pk=run_id).status == "cancelled"

    def test_a_running_run_stops_and_registers_nothing(self, alice, parent):
        run = dp_services.start_dp_training(user=alice, model_version=parent[0], dataset_version=parent[1],
                                            params=dp.DPParams(epsilon=1, epochs=2, batch_size=64), enqueue=False,
                                            reference_audit=False)
        DPTrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # asked while it runs

        assert dp_services.execute_dp_training(run.pk)

        run.refresh_from_db()
        assert run.status == "cancelled" and run.result_model is None
        assert not ModelVersion.objects.filter(parent=parent[0]).exists()

    def test_a_viewer_may_not_cancel(self, as_alice, as_bob, parent):
        run_id = as_alice.post(URL, _body(parent, epsilon=1), format="json").json()["id"]
        assert as_bob.post(f"{URL}/{run_id}/cancel").status_code == 403


class TestTraining:
    def test_it_registers_a_child_model_version_and_audits_it(self, as_alice, parent,
                                                              django_capture_on_commit_callbacks):
        # given/when: a run at ε = 2, executed by the (eager) worker once the request commits
        with django_capture_on_commit_callbacks(execute=True):
            response = as_alice.post(URL, _body(parent, epsilon=2.0), format="json")
        run = DPTrainingRun.objects.get(pk=response.json()["id"])

        # then: the run succeeded and recorded what it spent
        assert run.status == "succeeded", run.error
        assert run.progress == 100 and run.device == "cpu"
        result = run.result
        assert result["epsilon"] <= 2.0 and result["grad_sample_mode"] == "book-keeping"
        assert 0 < result["accuracy"] <= 1 and 0 < result["parent_accuracy"] <= 1

        # a child model version, not made current, carrying the dp record PRIV-02 reads
        child = run.result_model
        assert child.parent_id == parent[0].pk and child.format == "torch-zoo" and child.name == "scorer-dp"
        assert child.training_dataset_id == parent[1].pk
        assert child.system.current_model_id != child.pk
        for key in ("epsilon", "delta", "accountant", "noise_multiplier", "max_grad_norm", "epochs", "sample_rate",
                    "seed"):
            assert child.dp[key] == result[key]
        assert child.dp["training_run"] == run.pk

        # its audit ran on the same dataset version; PRIV-02 is the ε spent; TRANS-02 holds the DP events
        audit = run.audit
        assert audit.model_version_id == child.pk and audit.dataset_version_id == parent[1].pk
        assert audit.status == "succeeded", audit.error
        assert audit.result["metrics"]["PRIV-02"]["value"] == pytest.approx(result["epsilon"])
        assert audit.result["metrics"]["TRANS-02"]["value"] == 1.0
        # and the parent got a reference audit on the same dataset version
        assert AuditRun.objects.filter(model_version=parent[0], dataset_version=parent[1]).count() == 1

    def test_the_epsilon_reported_is_opacus_accountants_for_the_recorded_parameters(self, alice, parent):
        run = dp_services.start_dp_training(user=alice, model_version=parent[0], dataset_version=parent[1],
                                            params=dp.DPParams(epsilon=0.8, epochs=3, batch_size=50), enqueue=False,
                                            reference_audit=False)
        dp_services.execute_dp_training(run.pk, enqueue_audit=False)
        record = ModelVersion.objects.get(parent=parent[0]).dp

        accountant = create_accountant(record["accountant"])
        accountant.history = [(record["noise_multiplier"], record["sample_rate"], record["steps"])]
        assert record["epsilon"] == pytest.approx(accountant.get_epsilon(delta=record["delta"]), rel=1e-12)
        assert record["epsilon"] <= 0.8
        assert (record["sample_rate"], record["steps"]) == (pytest.approx(1 / 9), 27)  # ceil(420 / 50) = 9

    def test_dp_lowers_the_membership_advantage_of_an_overfitted_model(self, alice, alice_system):
        # given: a wide MLP trained without DP for 300 epochs on 280 noisy rows (it memorises them)
        dataset = _register(alice, alice_system, _frame(400, seed=1, noise=2.0, extra=20), "noisy")
        overfitted = train_and_register(dataset, architecture="mlp", args={"hidden": [256, 256]}, epochs=300,
                                        batch_size=64, lr=1e-2, name="overfitted", user=alice)
        parent_audit = jobs.start_audit(user=alice, model_version=overfitted, dataset_version=dataset, enqueue=False)
        jobs.execute_audit(parent_audit.pk)

        # when: its DP variant at ε = 1 is trained and audited
        run = dp_services.start_dp_training(user=alice, model_version=overfitted, dataset_version=dataset,
                                            params=dp.DPParams(epsilon=1.0, epochs=5, batch_size=64),
                                            enqueue=False, reference_audit=False)
        dp_services.execute_dp_training(run.pk, enqueue_audit=False)
        audit = DPTrainingRun.objects.get(pk=run.pk).audit
        jobs.execute_audit(audit.pk)

        # then: PRIV-01 falls by a wide margin (seeded: 0.5+ for the parent, under 0.15 for the variant)
        before = AuditRun.objects.get(pk=parent_audit.pk).result["metrics"]["PRIV-01"]["value"]
        after = AuditRun.objects.get(pk=audit.pk).result["metrics"]["PRIV-01"]["value"]
        assert before >= 0.4 and after <= 0.2 and before - after >= 0.3, (before, after)

    def test_a_run_on_a_model_that_cannot_be_loaded_fails_readably(self, alice, alice_model, alice_dataset):
        # alice_model's artifact is not a real zoo bundle: the worker must end the run with a message
        run = DPTrainingRun.objects.create(organization=alice_model.organization, model_version=alice_model,
                                           dataset_version=alice_dataset, epsilon=1.0, delta=1e-2, n_train=40,
                                           batch_size=8, created_by=alice)
        dp_services.execute_dp_training(run.pk)
        run.refresh_from_db()
        assert run.status == "failed" and "zip" in run.error
        assert AuditLogEntry.objects.filter(action="dp.fail", object_id=str(run.pk)).exists()


class TestSweep:
    def test_it_starts_one_run_per_distinct_epsilon_and_one_reference_audit(self, as_alice, parent):
        response = as_alice.post(f"{URL}/sweep", _body(parent, epsilons=[4, 1, 2, 1]), format="json")

        assert response.status_code == 202, response.json()
        body = response.json()
        assert [run["epsilon"] for run in body["runs"]] == [1.0, 2.0, 4.0]
        assert {run["sweep"] for run in body["runs"]} == {body["sweep"]}
        assert AuditRun.objects.filter(model_version=parent[0]).count() == 1
        listed = as_alice.get(URL, {"sweep": body["sweep"]}).json()["results"]
        assert len(listed) == 3

    def test_its_default_is_five_budgets(self, as_alice, parent):
        body = as_alice.post(f"{URL}/sweep", _body(parent), format="json").json()
        assert [run["epsilon"] for run in body["runs"]] == [0.5, 1.0, 2.0, 4.0, 8.0]

    @pytest.mark.parametrize("fields", [{"epsilons": [1, 0]}, {"epsilons": []}, {"epsilons": list(range(1, 13))},
                                        {"noise_multiplier": 1.0}, {"epsilons": [1], "delta": 0.5}])
    def test_an_invalid_sweep_is_a_400_that_creates_nothing(self, as_alice, parent, fields):
        assert as_alice.post(f"{URL}/sweep", _body(parent, **fields), format="json").status_code == 400
        assert not DPTrainingRun.objects.exists() and not AuditRun.objects.exists()


class TestCommand:
    def test_it_trains_audits_and_writes_the_summary(self, parent, tmp_path):
        out = tmp_path / "dp.json"
        call_command("train_dp", "--model-version", str(parent[0].pk), "--dataset-version", str(parent[1].pk),
                     "--epsilon", "2", "--epochs", "2", "--batch-size", "64", "--seed", "1", "--json", str(out),
                     stdout=io.StringIO())

        summary = json.loads(out.read_text())
        assert set(summary) == {"model_version", "parent", "epsilon", "delta", "noise_multiplier", "max_grad_norm",
                                "epochs", "sample_rate", "accountant", "accuracy", "parent_accuracy", "audit",
                                "seconds_per_epoch"}
        child = ModelVersion.objects.get(pk=summary["model_version"])
        assert child.parent_id == summary["parent"] == parent[0].pk
        assert summary["epsilon"] == child.dp["epsilon"] <= 2.0 and summary["delta"] == 1e-3
        assert summary["audit"]["status"] == "succeeded"
        assert summary["audit"]["metrics"]["PRIV-02"] == pytest.approx(summary["epsilon"])

    def test_it_refuses_bad_input_with_a_message(self, parent, onnx_model):
        base = ["--dataset-version", str(parent[1].pk)]
        with pytest.raises(CommandError, match="trainable zoo architecture"):
            call_command("train_dp", "--model-version", str(onnx_model.pk), *base, "--epsilon", "1")
        with pytest.raises(CommandError, match="delta"):
            call_command("train_dp", "--model-version", str(parent[0].pk), *base, "--epsilon", "1", "--delta", "0.1")
        with pytest.raises(CommandError):
            call_command("train_dp", "--model-version", str(parent[0].pk), *base, "--epsilon", "1",
                         "--noise-multiplier", "1")


class TestDashboard:
    @pytest.fixture
    def page_as(self, client, personas):
        def login(name):
            client.force_login(personas[name])
            return client
        return login

    def test_the_privacy_page_offers_the_form_to_those_who_may_train(self, page_as, parent):
        alice_page = page_as("alice").get("/privacy/").content.decode()
        assert 'id="dp-form"' in alice_page and "scorer v1" in alice_page
        assert 'id="dp-form"' not in page_as("bob").get("/privacy/").content.decode()

    def test_a_user_trains_a_variant_at_epsilon_2_and_sees_it_audited(self, page_as, parent,
                                                                      django_capture_on_commit_callbacks):
        model, dataset = parent
        form = {"model_version": model.pk, "dataset_version": dataset.pk, "epsilons": "2", "delta": "",
                "max_grad_norm": 1.0, "epochs": 2, "batch_size": 64, "lr": 1e-3, "seed": 0, "accountant": "prv"}
        with django_capture_on_commit_callbacks(execute=True):
            response = page_as("alice").post("/privacy/start/", form)

        run = DPTrainingRun.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/privacy/runs/{run.pk}/"
        page = page_as("alice").get(response["Location"]).content.decode()
        assert 'id="dp-result"' in page and 'id="dp-comparison"' in page
        assert f"audit #{run.audit_id}" in page and "Compare all 23 metrics" in page

    def test_a_queued_run_shows_a_progress_bar_fed_by_the_api(self, page_as, as_alice, parent):
        run_id = as_alice.post(URL, _body(parent, epsilon=1), format="json").json()["id"]
        page = page_as("alice").get(f"/privacy/runs/{run_id}/").content.decode()
        assert f'data-job-url="/api/v1/dp-trainings/{run_id}"' in page and 'role="progressbar"' in page

    def test_an_invalid_form_says_why_and_starts_nothing(self, page_as, parent):
        form = {"model_version": parent[0].pk, "dataset_version": parent[1].pk, "epsilons": "0", "max_grad_norm": 1,
                "epochs": 2, "batch_size": 64, "lr": 1e-3, "seed": 0, "accountant": "prv"}
        response = page_as("alice").post("/privacy/start/", form, follow=True)
        assert "epsilon: must be a positive number" in response.content.decode()
        assert not DPTrainingRun.objects.exists()

    def test_the_sweep_chart_draws_epsilon_against_accuracy_fairness_and_privacy(self, page_as, parent,
                                                                                  django_capture_on_commit_callbacks):
        model, dataset = parent
        form = {"model_version": model.pk, "dataset_version": dataset.pk, "epsilons": "1, 8", "max_grad_norm": 1.0,
                "epochs": 2, "batch_size": 64, "lr": 1e-3, "seed": 0, "accountant": "rdp"}
        with django_capture_on_commit_callbacks(execute=True):
            response = page_as("alice").post("/privacy/start/", form)

        assert response["Location"] == f"/privacy/models/{model.pk}/?dataset={dataset.pk}"
        page = page_as("alice").get(response["Location"]).content.decode()
        assert '<div class="card chart" id="tradeoff-chart"><svg' in page
        for title in ("accuracy on evaluation rows", "FAIR-03 equalized odds difference",
                      "PRIV-01 membership-inference advantage", "accuracy lost vs the parent, per sensitive group",
                      "sex=F (n=", "smallest"):
            assert title in page
        assert page.count("run #") == 2 and "acc. sex=F" in page

    def test_others_do_not_see_the_pages(self, page_as, as_alice, parent):
        run_id = as_alice.post(URL, _body(parent, epsilon=1), format="json").json()["id"]
        charlie = page_as("charlie")
        assert charlie.get(f"/privacy/runs/{run_id}/").status_code == 404
        assert charlie.get(f"/privacy/models/{parent[0].pk}/").status_code == 404
