import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from audit.metrics.base import AuditModel
from audit.modelio.encoder import EncoderSpec
from audit.modelio.errors import ACCEPTED_FORMATS, ModelContractError, ModelFormatError
from audit.modelio.loaders import is_pickle, load_model, sniff_format, validate_contract
from tests.modelio.modelio_data import CATEGORICAL, FEATURES, sklearn_onnx_bytes


class Backdoor(BaseEstimator, ClassifierMixin):
    """A custom estimator class: skops reports it untrusted and Assay must refuse it."""

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        return self


def _load(fmt, data, frame, **kwargs):
    return load_model(fmt, data, features=FEATURES, categorical=CATEGORICAL, train_frame=frame, **kwargs)


def _encoder(zoo_model):
    return EncoderSpec.from_json(zoo_model[1]["encoder"])


def _zoo_reference(zoo_model, frame):
    module, config = zoo_model
    with torch.no_grad():
        logits = module(torch.from_numpy(_encoder(zoo_model).transform(frame)))
    return torch.softmax(logits, dim=1).double().numpy()


class TestFormats:
    def test_sklearn_matches_the_trained_pipeline(self, skops_bytes, sk_pipeline, train_frame, eval_frame):
        loaded = _load("sklearn", skops_bytes, train_frame)

        expected = sk_pipeline.predict_proba(eval_frame[FEATURES])
        np.testing.assert_allclose(loaded.predict_proba(eval_frame), expected, atol=1e-5)
        assert loaded.classes == ["<=50K", ">50K"]
        matrix, columns, column_features, mask = loaded.design_matrix(eval_frame)
        assert columns == FEATURES and column_features == FEATURES
        assert mask.tolist() == [False, False, True, True, True]
        assert set(np.unique(matrix[:, 2])) <= {0.0, 1.0, 2.0, 3.0}  # workclass codes
        audit_model = loaded.to_audit_model()
        assert isinstance(audit_model, AuditModel) and not audit_model.differentiable
        np.testing.assert_allclose(audit_model.predict_proba(matrix), expected, atol=1e-5)
        np.testing.assert_array_equal(audit_model.predict(matrix), expected.argmax(axis=1))

    @pytest.mark.parametrize("zipmap", [True, False])
    def test_onnx_from_sklearn_matches_the_trained_pipeline(
        self, zipmap, sk_pipeline, train_frame, eval_frame
    ):
        data = sklearn_onnx_bytes(sk_pipeline, train_frame, zipmap=zipmap)

        loaded = _load("onnx", data, train_frame)

        expected = sk_pipeline.predict_proba(eval_frame[FEATURES])
        assert loaded.classes == ["<=50K", ">50K"]
        np.testing.assert_allclose(loaded.predict_proba(eval_frame), expected, atol=1e-5)
        matrix, columns, *_ = loaded.design_matrix(eval_frame)
        assert columns == FEATURES
        np.testing.assert_allclose(loaded.to_audit_model().predict_proba(matrix), expected, atol=1e-5)
        validate_contract(loaded, eval_frame)

    def test_onnx_with_only_a_label_output_has_no_probabilities(self, sk_pipeline, train_frame, eval_frame):
        import onnx

        proto = onnx.load_model_from_string(sklearn_onnx_bytes(sk_pipeline, train_frame, zipmap=False))
        kept = [o for o in proto.graph.output if "label" in o.name]
        del proto.graph.output[:]
        proto.graph.output.extend(kept)

        loaded = _load("onnx", proto.SerializeToString(), train_frame)

        assert loaded.predict_proba(eval_frame) is None
        assert loaded.to_audit_model().predict_proba is None
        expected = sk_pipeline.predict(eval_frame[FEATURES]) == ">50K"
        np.testing.assert_array_equal(loaded.predict(eval_frame), expected.astype(int))
        validate_contract(loaded, eval_frame)

    def test_zoo_bundle_matches_the_trained_module(self, zoo_bytes, zoo_model, train_frame, eval_frame):
        loaded = _load("torch-zoo", zoo_bytes, train_frame)

        expected = _zoo_reference(zoo_model, eval_frame)
        np.testing.assert_allclose(loaded.predict_proba(eval_frame), expected, atol=1e-5)
        matrix, columns, column_features, mask = loaded.design_matrix(eval_frame)
        assert columns == _encoder(zoo_model).columns and "workclass=Private" in columns
        assert column_features.count("workclass") == 4 and mask.sum() == len(columns) - 2
        audit_model = loaded.to_audit_model()
        assert audit_model.differentiable and audit_model.outputs == "logits"
        assert audit_model.representations(matrix).shape == (len(eval_frame), 8)
        validate_contract(loaded, eval_frame)

    def test_torch_export_matches_and_is_differentiable(self, pt2_bytes, zoo_model, train_frame, eval_frame):
        loaded = _load(
            "torch-export", pt2_bytes, train_frame, classes=["<=50K", ">50K"], encoder=_encoder(zoo_model)
        )

        expected = _zoo_reference(zoo_model, eval_frame)
        np.testing.assert_allclose(loaded.predict_proba(eval_frame), expected, atol=1e-5)
        matrix, *_ = loaded.design_matrix(eval_frame)
        x = torch.tensor(matrix[:5], dtype=torch.float32, requires_grad=True)
        module = loaded.to_audit_model().torch_module.eval()
        module(x)[:, 1].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        validate_contract(loaded, eval_frame)

    def test_torch_export_needs_classes(self, pt2_bytes, zoo_model, train_frame):
        with pytest.raises(ModelContractError, match="does not declare its classes"):
            _load("torch-export", pt2_bytes, train_frame, encoder=_encoder(zoo_model))

    def test_onnx_from_torch_matches_the_trained_module(
        self, torch_onnx_bytes, zoo_model, train_frame, eval_frame
    ):
        encoder = _encoder(zoo_model)
        loaded = load_model(
            "onnx", torch_onnx_bytes, features=encoder.columns, categorical=[], classes=["<=50K", ">50K"]
        )
        encoded = eval_frame.assign(
            **dict(zip(encoder.columns, encoder.transform(eval_frame).T, strict=True))
        )

        np.testing.assert_allclose(
            loaded.predict_proba(encoded), _zoo_reference(zoo_model, eval_frame), atol=1e-5
        )
        matrix, columns, *_ = loaded.design_matrix(encoded)
        assert columns == encoder.columns
        validate_contract(loaded, encoded)


def _refused(fmt, data, frame, match):
    with pytest.raises(ModelFormatError, match=match) as info:
        _load(fmt, data, frame)
    assert ACCEPTED_FORMATS in str(info.value)
    assert "torch-zoo (zip: config.json + weights.safetensors)" in str(info.value)


class TestRefusals:
    def test_pickle_is_refused(self, sk_pipeline, train_frame):
        data = pickle.dumps(sk_pipeline, protocol=4)

        assert is_pickle(data)
        for fmt in ("sklearn", "onnx", "torch-zoo", "torch-export"):
            _refused(fmt, data, train_frame, "Python pickle")

    def test_torch_save_file_is_refused(self, zoo_model, train_frame):
        buffer = io.BytesIO()
        torch.save(zoo_model[0].state_dict(), buffer)

        _refused("torch-export", buffer.getvalue(), train_frame, "Python pickle")

    def test_random_bytes_are_refused(self, train_frame):
        data = np.random.default_rng(0).bytes(4096)

        assert sniff_format(data) is None
        _refused("onnx", data, train_frame, "matches none of the accepted formats")

    def test_declared_format_must_match(
        self, skops_bytes, zoo_bytes, pt2_bytes, torch_onnx_bytes, train_frame
    ):
        assert [sniff_format(d) for d in (skops_bytes, zoo_bytes, pt2_bytes, torch_onnx_bytes)] == [
            "sklearn",
            "torch-zoo",
            "torch-export",
            "onnx",
        ]
        _refused("onnx", skops_bytes, train_frame, "not onnx.*looks like sklearn")
        _refused("sklearn", zoo_bytes, train_frame, "looks like torch-zoo")

    def test_zip_without_weights_is_refused(self, train_frame):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("config.json", "{}")

        _refused(
            "torch-zoo", buffer.getvalue(), train_frame, "expected a zip holding config.json and weights"
        )

    def test_unknown_format_is_refused(self, skops_bytes, train_frame):
        _refused("pickle", skops_bytes, train_frame, "unknown model format 'pickle'")

    @pytest.mark.parametrize("step", [FunctionTransformer(eval), Backdoor()], ids=["builtins.eval", "custom"])
    def test_skops_with_untrusted_type_is_refused(self, step, train_frame):
        import skops.io as sio

        estimator = (
            make_pipeline(step, LogisticRegression()) if isinstance(step, FunctionTransformer) else step
        )
        data = sio.dumps(estimator)

        name = "builtins.eval" if isinstance(step, FunctionTransformer) else "Backdoor"
        _refused("sklearn", data, train_frame, f"types Assay does not trust: .*{name}")


def _rewrite_pt2(data: bytes, edit) -> bytes:
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, edit(name, source.read(name)))
    return out.getvalue()


class TestTorchExportSafety:
    def test_code_in_a_symbolic_shape_never_runs(self, pt2_bytes, train_frame, tmp_path):
        marker = tmp_path / "ran"
        payload = f"(__import__('pathlib').Path({str(marker)!r}).touch(), Symbol('s0'))[1]"

        def edit(name, content):
            if not name.endswith("models/model.json"):
                return content
            text = content.decode()
            start = text.index('"expr_str": "') + len('"expr_str": "')
            return (text[:start] + payload.replace('"', '\\"') + text[text.index('"', start) :]).encode()

        _refused("torch-export", _rewrite_pt2(pt2_bytes, edit), train_frame, "not plain arithmetic")
        assert not marker.exists()

    def test_a_graph_calling_python_is_refused(self, pt2_bytes, train_frame):
        def edit(name, content):
            if name.endswith("models/model.json"):
                return content.replace(b'"torch.ops.aten.relu.default"', b'"torch.os.system"')
            return content

        _refused("torch-export", _rewrite_pt2(pt2_bytes, edit), train_frame, "graph calls 'torch.os.system'")

    def test_guards_code_is_refused(self, pt2_bytes, train_frame):
        def edit(name, content):
            if name.endswith("models/model.json"):
                program = json.loads(content)
                program["guards_code"] = ["__import__('os').getpid() > 0"]
                return json.dumps(program).encode()
            return content

        _refused("torch-export", _rewrite_pt2(pt2_bytes, edit), train_frame, "guards code")

    def test_pickled_weights_are_refused(self, pt2_bytes, train_frame):
        def edit(name, content):
            if name.endswith("model_weights_config.json"):
                return content.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
            return content

        _refused("torch-export", _rewrite_pt2(pt2_bytes, edit), train_frame, "is pickled")

    def test_extra_archive_members_are_refused(self, pt2_bytes, train_frame):
        buffer = io.BytesIO(pt2_bytes)
        root = zipfile.ZipFile(buffer).namelist()[0].split("/")[0]
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr(f"{root}/data/aotinductor/model/model.so", b"\x7fELF")

        _refused("torch-export", buffer.getvalue(), train_frame, "files Assay does not load")


class TestContract:
    def test_logits_from_an_onnx_model_break_the_contract(self, zoo_model, encoded_example, train_frame):
        encoder = _encoder(zoo_model)
        program = torch.onnx.export(
            zoo_model[0].eval(),
            (encoded_example,),
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
        loaded = load_model(
            "onnx",
            program.model_proto.SerializeToString(),
            features=encoder.columns,
            categorical=[],
            classes=["<=50K", ">50K"],
        )
        encoded = train_frame.assign(
            **dict(zip(encoder.columns, encoder.transform(train_frame).T, strict=True))
        )

        with pytest.raises(ModelContractError, match="not logits"):
            validate_contract(loaded, encoded)

    def test_wrong_number_of_classes_breaks_the_contract(self, pt2_bytes, zoo_model, train_frame):
        loaded = _load(
            "torch-export", pt2_bytes, train_frame, classes=["a", "b", "c"], encoder=_encoder(zoo_model)
        )

        with pytest.raises(ModelContractError, match=r"shape \(32, 2\), expected \(32, 3\)"):
            validate_contract(loaded, train_frame)

    def test_missing_feature_column_is_reported(self, skops_bytes, train_frame):
        loaded = _load("sklearn", skops_bytes, train_frame)

        with pytest.raises(ModelContractError, match="failed on 32 rows"):
            validate_contract(loaded, train_frame.drop(columns=["workclass"]))

    def test_design_matrix_needs_a_training_frame_for_codes(self, skops_bytes, eval_frame):
        loaded = load_model("sklearn", skops_bytes, features=FEATURES, categorical=CATEGORICAL)

        assert loaded.predict_proba(eval_frame).shape == (len(eval_frame), 2)
        with pytest.raises(ValueError, match="training frame is needed"):
            loaded.design_matrix(eval_frame)
        validate_contract(loaded, eval_frame)

    def test_unseen_category_decodes_as_missing(self, skops_bytes, sk_pipeline, train_frame, eval_frame):
        loaded = _load("sklearn", skops_bytes, train_frame)
        rows = eval_frame.head(5).assign(workclass="Never-worked")

        matrix, *_ = loaded.design_matrix(rows)

        assert (matrix[:, 2] == -1).all()
        decoded = loaded.native.predict_proba(rows[FEATURES].assign(workclass=None))
        np.testing.assert_allclose(loaded.to_audit_model().predict_proba(matrix), decoded, atol=1e-9)
