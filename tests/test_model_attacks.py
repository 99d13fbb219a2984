"""Attacks through a model upload: every crafted model is refused with a 4xx, and its payload never runs.

Each payload is built here. The code-running ones try to create a marker file under `tmp_path`;
the ONNX ones try to read a file of random bytes. Every attack goes through the API upload
(`POST /api/v1/models`) and the code-running and reading ones through `manage.py audit_file` too.

The sandbox hides `tmp_path` from a bubblewrap child, so under bubblewrap an absent marker proves
little about the format checks; the attacks therefore also run with the fallback sandbox
(`ASSAY_SANDBOX=fallback`), where the child could write the marker and only the format checks stop
the payload. `TestThePayloadsAreLive` runs each payload through the unprotected library call
(torch.export.load, skops with every type trusted, onnxruntime) and sees it work: a refusal of a
payload that does nothing would prove nothing.

Bombs and out-of-bounds zoo configs answer 400 within 2 s, with the web process (this test
process: the upload runs in-process) growing by less than 256 MB (tracemalloc's peak). An ONNX
`Loop` that spins is stopped at the sandbox's time limit. Benign uploads of every format still
succeed.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tempfile
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import services
from audit.datasets import Schema
from audit.models import ModelVersion
from core import sandbox
from core.models import Artifact
from tests.workers import sandbox_children

MODELS = "/api/v1/models"
SECONDS = 2.0
EXTRA_MB = 256
MiB = 1024 * 1024
BACKENDS = ["bubblewrap", "fallback"]


#
# Helpers
#


class WritesMarker:
    """Unpickling this object calls open(marker, "w"): the file appears when the pickle runs."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def marker_pickle(marker: Path) -> bytes:
    return pickle.dumps(WritesMarker(marker), protocol=2)


@pytest.fixture(params=BACKENDS)
def backend(request, settings):
    """Run the test under bubblewrap (skipped where it cannot run) and under the fallback sandbox."""
    if request.param == "bubblewrap" and not sandbox.bubblewrap_works():
        pytest.skip("bubblewrap cannot run here")
    settings.ASSAY_SANDBOX = "auto" if request.param == "bubblewrap" else "fallback"
    assert sandbox.backend() == request.param
    return request.param


@pytest.fixture
def fallback(settings):
    """The fallback sandbox: the child sees the whole file system, only the format checks stand in the way."""
    settings.ASSAY_SANDBOX = "fallback"


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "marker" / "pwned"
    path.parent.mkdir()
    yield path
    assert not path.exists(), "the payload ran"


@pytest.fixture
def upload(as_alice, alice_system, alice_dataset, helpers, error_of):
    """Return a function that uploads model bytes as Alice and returns (status, message, body, seconds)."""

    def post(data: bytes, fmt: str, filename: str = "model.bin", dataset=None):
        before = (ModelVersion.objects.count(), Artifact.objects.count())
        form = {"system": alice_system.pk, "name": "evil", "format": fmt,
                "dataset_version": (dataset or alice_dataset).pk, "file": helpers.upload_file(data, filename)}
        started = time.perf_counter()
        response = as_alice.post(MODELS, form, format="multipart")
        seconds = time.perf_counter() - started
        if response.status_code >= 400:
            assert (ModelVersion.objects.count(), Artifact.objects.count()) == before, "a refused model was stored"
            return response.status_code, error_of(response)["message"], response.content, seconds
        return response.status_code, "", response.content, seconds

    return post


@pytest.fixture
def audit_file(tmp_path, helpers):
    """Return a function that runs `manage.py audit_file` on hostile model bytes; none may write its result."""
    data = tmp_path / "credit.csv"
    helpers.make_frame(120).to_csv(data, index=False)
    out = tmp_path / "result.json"

    def run(model: bytes, fmt: str, suffix: str = ".bin"):
        path = tmp_path / f"model{suffix}"
        path.write_bytes(model)
        call_command("audit_file", "--data", str(data), "--target", "label", "--positive-label", "good",
                     "--sensitive", "sex", "--model", str(path), "--format", fmt, "--split-column", "split",
                     "--json", str(out))

    yield run
    assert not out.exists(), "audit_file wrote a result for a hostile model"


def assert_refused(status: int, message: str, *words: str) -> None:
    assert 400 <= status < 500, (status, message)
    for word in words:
        assert word.lower() in message.lower(), message


#
# torch-export (.pt2)
#


@pytest.fixture(scope="module")
def pt2_bytes() -> bytes:
    """A real torch.export archive of a tiny nn.Linear."""
    program = torch.export.export(torch.nn.Linear(2, 2).eval(), (torch.randn(4, 2),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def rewrite_pt2(data: bytes, edit) -> bytes:
    """Return the archive with its entries (relative names, bytes) passed through `edit`, in its order."""
    source = zipfile.ZipFile(io.BytesIO(data))
    root = source.namelist()[0].split("/")[0]
    entries = edit([(info.filename[len(root) + 1:], source.read(info)) for info in source.infolist()])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, payload in entries:
                archive.writestr(f"{root}/{name}", payload)
    return buffer.getvalue()


WEIGHTS_CONFIG = "data/weights/model_weights_config.json"


def pt2_attack(data: bytes, kind: str, marker: Path) -> bytes:
    """Return a .pt2 archive whose loading by torch.export.load unpickles a payload writing `marker`."""
    payload = marker_pickle(marker)

    def pickled_config(raw: bytes) -> bytes:
        config = json.loads(raw)
        config["config"]["weight"] = {"path_name": "weight_2", "is_param": True, "use_pickle": True,
                                      "tensor_meta": None}
        return json.dumps(config).encode()

    def edit(entries):
        if kind == "duplicate-config":
            # torch's reader takes the first copy (pickled), Python's zipfile the last (benign)
            out = []
            for name, raw in entries:
                if name == WEIGHTS_CONFIG:
                    out += [(name, pickled_config(raw)), ("data/weights/weight_2", payload)]
                out.append((name, raw))
            return out
        if kind == "pickled-config":
            return [*[(n, pickled_config(r) if n == WEIGHTS_CONFIG else r) for n, r in entries],
                    ("data/weights/weight_2", payload)]
        if kind == "unexpected-entry":
            # the legacy weights file: torch tries weights_only=True, then falls back to a full unpickle
            return [*entries, ("data/weights/model.pt", payload)]
        if kind == "pickled-sample-inputs":
            return [(n, payload if n == "data/sample_inputs/model.pt" else r) for n, r in entries]
        raise AssertionError(kind)

    return rewrite_pt2(data, edit)


PT2_ATTACKS = {
    "duplicate-config": "twice",
    "pickled-config": "pickled",
    "unexpected-entry": "does not load",
    "pickled-sample-inputs": "sample inputs",
}


#
# skops
#


def _json_node(value) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(value),
            "is_json": True}


def _tuple_node(*items: dict) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _call_node(module: str, name: str, *args: dict) -> dict:
    """A node that skops loads as `module.name(*args)` (a "constructor" taken from __reduce__)."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": _tuple_node(*args)}


@pytest.fixture(scope="module")
def skops_estimator() -> bytes:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).random((40, 2))
    return sio.dumps(LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int)))


def skops_with_attribute(data: bytes, node: dict) -> bytes:
    """Return the skops file with one more attribute on its estimator, whose value is `node`."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    state = schema["content"]  # the estimator's __dict__: a DictNode
    state["content"]["evil_"] = node
    state["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, json.dumps(schema) if info.filename == "schema.json" else source.read(info))
    return buffer.getvalue()


def skops_attack(data: bytes, kind: str, marker: Path) -> bytes:
    if kind == "open_memmap":
        # numpy.lib.format.open_memmap(marker, "w+", "uint8", (1,)) creates the file
        node = _call_node("numpy.lib.format", "open_memmap", _json_node(str(marker)), _json_node("w+"),
                          _json_node("uint8"), _tuple_node(_json_node(1)))
    elif kind == "read_array":
        # numpy.lib.format.read_array(numpy.lib._datasource.open(npy, "rb"), True) unpickles the .npy
        npy = marker.parent.parent / "payload.npy"
        np.save(npy, np.array([WritesMarker(marker)], dtype=object), allow_pickle=True)
        node = _call_node("numpy.lib.format", "read_array",
                          _call_node("numpy.lib._datasource", "open", _json_node(str(npy)), _json_node("rb")),
                          _json_node(True))
    else:
        raise AssertionError(kind)
    return skops_with_attribute(data, node)


SKOPS_ATTACKS = {
    "open_memmap": ["numpy.lib.format.open_memmap"],
    "read_array": ["numpy.lib.format.read_array", "numpy.lib._datasource.open"],
}


#
# ONNX
#


def _onnx_model(nodes, inputs, outputs, initializers=(), opsets=(("", 17),), functions=()) -> bytes:
    from onnx import helper

    graph = helper.make_graph(list(nodes), "attack", list(inputs), list(outputs), initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              functions=list(functions))
    model.ir_version = 8
    return model.SerializeToString()


def _external(tensor, location: str, length: int) -> None:
    from onnx import TensorProto

    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def onnx_attack(kind: str, location: str, length: int) -> bytes:
    """Return an ONNX model whose "label" output is the bytes of the file at `location` (external data).

    On 32 rows the check would answer "the ONNX model predicts labels [<the bytes>] outside classes".
    """
    from onnx import TensorProto, helper

    age = helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])
    label = helper.make_tensor_value_info("label", TensorProto.INT64, [None])
    secret = TensorProto()
    secret.name, secret.data_type = "secret", TensorProto.UINT8
    secret.dims.append(length)
    _external(secret, location, length)
    if kind == "initializer":
        nodes = [helper.make_node("Cast", ["secret"], ["label"], to=TensorProto.INT64)]
        return _onnx_model(nodes, [age], [label], [secret])
    if kind == "constant":
        nodes = [helper.make_node("Constant", [], ["secret"], value=secret),
                 helper.make_node("Cast", ["secret"], ["label"], to=TensorProto.INT64)]
        return _onnx_model(nodes, [age], [label])
    if kind == "sparse-constant":
        indices = helper.make_tensor("indices", TensorProto.INT64, [length], list(range(length)))
        sparse = helper.make_sparse_tensor(secret, indices, [length])
        nodes = [helper.make_node("Constant", [], ["secret"], sparse_value=sparse),
                 helper.make_node("Cast", ["secret"], ["label"], to=TensorProto.INT64)]
        return _onnx_model(nodes, [age], [label])
    raise AssertionError(kind)


def _secret_traces(secret: bytes) -> list[bytes]:
    """Ways the secret could show in a response: raw, hex, base64, and as the list of its byte values."""
    import base64

    values = [str(b) for b in secret]
    return [secret[:8], secret.hex()[:16].encode(), base64.b64encode(secret)[:12],
            ", ".join(values[:6]).encode(), " ".join(values[:6]).encode(),
            ", ".join(sorted(set(values), key=int)[:6]).encode()]


#
# Zoo zips
#


def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                info = zipfile.ZipInfo("x")
                info.filename = name  # ZipInfo("...") would strip a leading "/"; the attack needs it kept
                info.compress_type = compression
                archive.writestr(info, data)
    return buffer.getvalue()


def _zoo_config(**args) -> bytes:
    config = {"architecture": "mlp", "args": {"n_inputs": 4, "n_classes": 2, "hidden": [8], **args},
              "encoder": None, "classes": ["bad", "good"], "features": ["age", "income"], "outputs": "logits"}
    return json.dumps(config).encode()


def _zoo_weights(n_inputs: int = 4, hidden: int = 8) -> bytes:
    from safetensors.torch import save

    from audit.modelio.zoo import MLP

    return save({k: v.contiguous() for k, v in MLP(n_inputs, 2, hidden=[hidden]).state_dict().items()})


def deflate_bomb(entries: list[tuple[str, bytes]], bomb_name: str, gib: float) -> bytes:
    """Return a zip of `entries` plus `bomb_name`: `gib` GiB of zeros deflated to about a thousandth.

    The deflate stream is one compressed MiB of zeros repeated (each block ends with a full flush, so
    every block is the same bytes): building it takes a fraction of a second and no memory.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    tail = compressor.flush(zlib.Z_FINISH)
    mib = int(gib * 1024)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    size, stream = mib * MiB, block * mib + tail
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    head = buffer.getvalue()
    # append the bomb by hand: its local header, its stream, its directory record (32-bit sizes: under 4 GiB)
    assert size < 2**32
    records_at = head.rindex(b"PK\x05\x06")
    _, _, _, _, count, dir_size, dir_offset, _ = struct.unpack("<4s4H2LH", head[records_at:records_at + 22])
    files, directory = head[:dir_offset], head[dir_offset:dir_offset + dir_size]
    name = bomb_name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(stream), size, len(name),
                          0, 0, 0, 0, 0, len(files)) + name
    directory += central
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count + 1, count + 1, len(directory),
                      len(files) + len(local) + len(stream), 0)
    return files + local + stream + directory + end


class Meter:
    """Wall-clock seconds and tracemalloc's peak (MB) of a block."""

    def __enter__(self) -> Meter:
        tracemalloc.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started
        self.mb = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()


#
# Loop
#


def spinning_onnx(trip_count: int = 2**62) -> bytes:
    """Return an ONNX model (well under 1 KB) whose probabilities come out of a Loop of `trip_count` turns."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "spin",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [None, 2])],
    )
    nodes = [
        helper.make_node("Constant", [], ["trips"], value=helper.make_tensor("t", TensorProto.INT64, [], [trip_count])),
        helper.make_node("Constant", [], ["go"], value=helper.make_tensor("g", TensorProto.BOOL, [], [True])),
        helper.make_node("Concat", ["age", "age"], ["pair"], axis=1),
        helper.make_node("Softmax", ["pair"], ["start"], axis=1),
        helper.make_node("Loop", ["trips", "go", "start"], ["probabilities"], body=body),
    ]
    return _onnx_model(nodes, [helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])],
                       [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])])


#
# The payloads work when nothing stops them
#


class TestThePayloadsAreLive:
    """Without Assay's checks, each payload does what it was built for (so refusing it means something)."""

    @pytest.mark.parametrize("kind", PT2_ATTACKS)
    def test_torch_export_load_runs_the_pt2_payload(self, kind, pt2_bytes, tmp_path):
        marker = tmp_path / "pwned"
        with pytest.raises(Exception):  # noqa: B017 - torch fails after the payload ran
            torch.export.load(io.BytesIO(pt2_attack(pt2_bytes, kind, marker)))
        assert marker.exists()

    @pytest.mark.parametrize("kind", SKOPS_ATTACKS)
    def test_skops_trusting_everything_runs_the_payload(self, kind, skops_estimator, tmp_path):
        import skops.io as sio

        (tmp_path / "m").mkdir()
        marker = tmp_path / "m" / "pwned"
        data = skops_attack(skops_estimator, kind, marker)
        assert sorted(sio.get_untrusted_types(data=data)) == sorted(SKOPS_ATTACKS[kind])
        sio.loads(data, trusted=SKOPS_ATTACKS[kind])
        assert marker.exists()

    @pytest.mark.parametrize("kind", ["initializer", "constant"])
    def test_onnxruntime_reads_external_data_beside_the_working_directory(self, kind, tmp_path, monkeypatch):
        import onnxruntime as ort

        secret = os.urandom(32)
        (tmp_path / "secret.bin").write_bytes(secret)
        monkeypatch.chdir(tmp_path)
        session = ort.InferenceSession(onnx_attack(kind, "secret.bin", len(secret)),
                                       providers=["CPUExecutionProvider"])
        label = session.run(["label"], {"age": np.zeros((32, 1), np.float32)})[0]
        assert bytes(label.astype(np.uint8)) == secret

    def test_onnxruntime_spins_on_the_loop(self):
        import onnxruntime as ort

        data = spinning_onnx(trip_count=200_000)
        assert len(data) < 1024
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        started = time.perf_counter()
        session.run(["probabilities"], {"age": np.zeros((32, 1), np.float32)})
        per_turn = (time.perf_counter() - started) / 200_000
        assert per_turn * 2**62 > 3600 * 24 * 365  # the real model's trip count: years


#
# 1. torch-export
#


class TestTorchExport:
    @pytest.mark.parametrize("kind", PT2_ATTACKS)
    def test_the_upload_is_refused_and_the_payload_never_runs(self, kind, backend, pt2_bytes, marker, upload):
        status, message, _, _ = upload(pt2_attack(pt2_bytes, kind, marker), "torch-export", "model.pt2")
        assert_refused(status, message, PT2_ATTACKS[kind])
        assert not marker.exists()

    @pytest.mark.parametrize("kind", PT2_ATTACKS)
    def test_audit_file_exits_non_zero_and_the_payload_never_runs(self, kind, fallback, pt2_bytes, marker,
                                                                  audit_file):
        with pytest.raises(CommandError, match=PT2_ATTACKS[kind]):
            audit_file(pt2_attack(pt2_bytes, kind, marker), "torch-export", ".pt2")
        assert not marker.exists()

    def test_the_refusal_names_the_duplicate_entry(self, fallback, pt2_bytes, marker, upload):
        status, message, _, _ = upload(pt2_attack(pt2_bytes, "duplicate-config", marker), "torch-export")
        assert_refused(status, message, "model_weights_config.json", "twice")


#
# 2. skops
#


class TestSkops:
    @pytest.mark.parametrize("kind", SKOPS_ATTACKS)
    def test_the_upload_is_refused_naming_the_type_and_the_payload_never_runs(self, kind, backend, skops_estimator,
                                                                              marker, upload):
        status, message, _, _ = upload(skops_attack(skops_estimator, kind, marker), "sklearn", "model.skops")
        assert status == 400
        assert_refused(status, message, "does not trust", *SKOPS_ATTACKS[kind])
        assert not marker.exists()

    @pytest.mark.parametrize("kind", SKOPS_ATTACKS)
    def test_audit_file_exits_non_zero_and_the_payload_never_runs(self, kind, fallback, skops_estimator, marker,
                                                                  audit_file):
        with pytest.raises(CommandError, match=SKOPS_ATTACKS[kind][0].replace(".", r"\.")):
            audit_file(skops_attack(skops_estimator, kind, marker), "sklearn", ".skops")
        assert not marker.exists()


#
# 3. ONNX
#


@pytest.fixture
def secret(tmp_path) -> tuple[bytes, Path]:
    """A file of random bytes standing for the data folder's key, under tmp_path."""
    data = os.urandom(48)
    path = tmp_path / "secret.key"
    path.write_bytes(data)
    return data, path


def _locations(path: Path) -> dict[str, str]:
    """Where an external-data location may point: absolute, up from the child's working directory
    (the fallback's is <tempdir>/assay-sandbox-*/work, so "../../" reaches the temp folder), and beside it."""
    return {"absolute": str(path), "relative-up": os.path.relpath(path, Path(tempfile.gettempdir(), "x", "y")),
            "dot-dot": "../../" + path.name, "beside": path.name}


class TestOnnx:
    @pytest.mark.parametrize(("kind", "where"), [
        ("initializer", "absolute"), ("initializer", "relative-up"), ("initializer", "dot-dot"),
        ("initializer", "beside"), ("constant", "relative-up"), ("sparse-constant", "relative-up"),
    ])
    def test_external_data_is_refused_and_no_byte_of_the_file_comes_back(self, kind, where, fallback, secret,
                                                                         monkeypatch, upload):
        data, path = secret
        monkeypatch.chdir(path.parent)  # the web process's working directory holds the secret
        status, message, body, _ = upload(onnx_attack(kind, _locations(path)[where], len(data)), "onnx",
                                          "model.onnx")
        assert_refused(status, message, "from an external file")
        for trace in _secret_traces(data):
            assert trace not in body

    def test_it_is_refused_under_bubblewrap_too(self, backend, secret, upload):
        data, path = secret
        status, message, body, _ = upload(onnx_attack("initializer", str(path), len(data)), "onnx", "model.onnx")
        assert_refused(status, message, "from an external file")
        assert not any(trace in body for trace in _secret_traces(data))

    @pytest.mark.parametrize("where", ["absolute", "relative-up"])
    def test_audit_file_exits_non_zero_without_the_bytes(self, where, fallback, secret, audit_file, capsys):
        data, path = secret
        with pytest.raises(CommandError, match="from an external file") as caught:
            audit_file(onnx_attack("initializer", _locations(path)[where], len(data)), "onnx", ".onnx")
        shown = (str(caught.value) + "".join(capsys.readouterr())).encode()
        assert not any(trace in shown for trace in _secret_traces(data))

    def test_a_custom_operator_domain_is_refused(self, fallback, upload):
        from onnx import TensorProto, helper

        data = _onnx_model([helper.make_node("Exfiltrate", ["age"], ["probabilities"], domain="com.evil")],
                           [helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])],
                           [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
                           opsets=[("", 17), ("com.evil", 1)])
        status, message, _, _ = upload(data, "onnx", "model.onnx")
        assert_refused(status, message, "com.evil")

    def test_a_custom_domain_function_is_refused(self, fallback, upload):
        from onnx import TensorProto, helper

        function = helper.make_function("com.evil", "Probabilities", ["x"], ["y"],
                                        [helper.make_node("Softmax", ["x"], ["y"])],
                                        [helper.make_opsetid("", 17)])
        data = _onnx_model([helper.make_node("Concat", ["age", "age"], ["pair"], axis=1),
                            helper.make_node("Probabilities", ["pair"], ["probabilities"], domain="com.evil")],
                           [helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])],
                           [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
                           opsets=[("", 17), ("com.evil", 1)], functions=[function])
        status, message, _, _ = upload(data, "onnx", "model.onnx")
        assert_refused(status, message, "com.evil")


#
# 4. Bombs and bounds (zoo zips mostly)
#




@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Import what an upload uses once (the URL conf imports every view: seconds under tracemalloc), so that
    a first import in this process is not counted against a bomb."""
    from django.urls import resolve

    import audit.services  # noqa: F401

    resolve(MODELS)


class TestBombsAndBounds:
    def _refused(self, upload, data: bytes, *words: str, fmt: str = "torch-zoo") -> str:
        with Meter() as meter:
            status, message, _, _ = upload(data, fmt, "model.zip")
        assert status == 400, message
        for word in words:
            assert word in message, message
        assert meter.seconds < SECONDS, f"took {meter.seconds:.2f} s"
        assert meter.mb < EXTRA_MB, f"grew by {meter.mb:.0f} MB"
        return message

    def test_a_zip_bomb_of_two_gigabytes_is_refused(self, backend, upload):
        data = deflate_bomb([("config.json", _zoo_config())], "weights.safetensors", gib=2.1)
        assert len(data) < 3 * MiB
        info = zipfile.ZipFile(io.BytesIO(data)).getinfo("weights.safetensors")
        assert info.file_size > 2 * 1024**3
        self._refused(upload, data, "weights.safetensors", "zip bomb")

    def test_a_pt2_zip_bomb_is_refused(self, backend, upload, pt2_bytes):
        source = zipfile.ZipFile(io.BytesIO(pt2_bytes))
        entries = [(i.filename, source.read(i)) for i in source.infolist() if not i.filename.endswith("/weight_0")]
        data = deflate_bomb(entries, "archive/data/weights/weight_0", gib=2.1)
        self._refused(upload, data, "weight_0", "zip bomb", fmt="torch-export")

    def test_a_skops_schema_bomb_is_refused_within_the_bound(self, upload):
        data = deflate_bomb([], "schema.json", gib=1.0)
        assert len(data) < 1.1 * MiB
        self._refused(upload, data, fmt="sklearn")

    @pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "weights/../../evil"])
    def test_entry_names_that_leave_the_folder_are_refused(self, name, fallback, upload, tmp_path):
        data = _zip([("config.json", _zoo_config()), ("weights.safetensors", _zoo_weights()), (name, b"x")])
        assert name in zipfile.ZipFile(io.BytesIO(data)).namelist()
        self._refused(upload, data, "evil")

    def test_a_nested_zip_is_refused(self, fallback, upload):
        inner = _zip([("config.json", _zoo_config()), ("weights.safetensors", _zoo_weights())])
        data = _zip([("config.json", _zoo_config()), ("weights.safetensors", _zoo_weights()), ("inner.zip", inner)])
        self._refused(upload, data, "nested")

    def test_weights_that_are_a_zip_are_refused(self, fallback, upload):
        inner = _zip([("a", b"a")])
        data = _zip([("config.json", _zoo_config()), ("weights.safetensors", inner)])
        self._refused(upload, data, "nested")

    @pytest.mark.parametrize(("args", "words"), [
        ({"n_inputs": -5}, ["n_inputs", "-5"]),
        ({"hidden": [10**9]}, ["hidden", "1000000000"]),
        ({"hidden": [8] * 10_000}, ["hidden"]),
        ({"n_inputs": 10**6, "hidden": [65_536, 65_536]}, ["parameters"]),
        ({"n_classes": 10**12}, ["n_classes"]),
        ({"dropout": 5}, ["dropout"]),
        ({"shell": "rm -rf /"}, ["shell"]),
    ])
    def test_out_of_bounds_architecture_arguments_are_a_400(self, args, words, fallback, upload):
        data = _zip([("config.json", _zoo_config(**args)), ("weights.safetensors", _zoo_weights())])
        self._refused(upload, data, *words)


#
# 5. A Loop that spins
#


class TestSpinningLoop:
    def test_the_upload_answers_400_at_the_time_limit_and_the_child_is_gone(self, backend, settings, upload):
        settings.ASSAY_SANDBOX_CHECK_SECONDS = 3
        data = spinning_onnx()
        assert len(data) < 1024
        status, message, _, seconds = upload(data, "onnx", "model.onnx")
        assert status == 400, message
        assert "limit" in message and ("time" in message or "CPU" in message), message
        assert "\n" not in message
        assert seconds < 3 + 10, f"took {seconds:.1f} s"
        deadline = time.monotonic() + 5
        while sandbox_children() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sandbox_children(), "the spinning child outlived the request"

    def test_the_same_model_with_one_turn_is_accepted(self, fallback, upload):
        status, _, content, _ = upload(spinning_onnx(trip_count=1), "onnx", "model.onnx")
        assert status == 201, content[:300]  # so the 400 above is the loop's doing, nothing else


#
# 6. Benign uploads still succeed
#


@pytest.fixture
def numeric_dataset(alice, alice_system, helpers):
    """A dataset whose features are numeric only (age, income): what a single-tensor export reads."""
    frame = helpers.make_frame(90).drop(columns=["housing"])
    schema = Schema(target="label", positive_label="good", sensitive_attributes=["sex"], split_column="split")
    return services.register_dataset(user=alice, system=alice_system, name="numeric", filename="numeric.csv",
                                     data=helpers.csv_bytes(frame), schema=schema)


@pytest.fixture(scope="module")
def linear_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 2)).eval()


def _named_onnx() -> bytes:
    """A hand-built ONNX classifier over the named inputs age and income, giving probabilities."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [0.02, -0.02, -0.05, 0.05])
    nodes = [helper.make_node("Concat", ["age", "income"], ["x"], axis=1),
             helper.make_node("MatMul", ["x", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    return _onnx_model(nodes, [helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1]),
                               helper.make_tensor_value_info("income", TensorProto.FLOAT, [None, 1])],
                       [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])], [weights])


class TestBenignUploads:
    @pytest.fixture(autouse=True)
    def _backend(self, backend):
        return backend

    def _accepted(self, upload, data: bytes, fmt: str, filename: str, dataset=None) -> dict:
        status, _, content, _ = upload(data, fmt, filename, dataset)
        assert status == 201, content[:500]
        body = json.loads(content)
        assert body["format"] == fmt
        assert body["classes"] == ["bad", "good"]
        return body

    def test_a_zoo_model(self, upload, zoo_bundle):
        assert self._accepted(upload, zoo_bundle, "torch-zoo", "scorer.zip")["features"] == ["age", "income",
                                                                                            "housing"]

    def test_a_torch_export_program(self, upload, numeric_dataset, linear_module):
        from audit.modelio.training import export_torch

        data = export_torch(linear_module, torch.randn(4, 2))
        assert self._accepted(upload, data, "torch-export", "scorer.pt2", numeric_dataset)["features"] == [
            "age", "income"]

    @pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.onnx's exporter about its own tree specs
    def test_an_onnx_export(self, upload, numeric_dataset, linear_module):
        from audit.modelio.training import export_onnx

        data = export_onnx(linear_module, torch.randn(4, 2))
        self._accepted(upload, data, "onnx", "scorer.onnx", numeric_dataset)

    def test_an_onnx_model_with_named_inputs(self, upload):
        self._accepted(upload, _named_onnx(), "onnx", "scorer.onnx")

    def test_a_sklearn_pipeline(self, upload, helpers):
        import skops.io as sio
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = helpers.make_frame()
        columns = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                     ("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"])])
        pipeline = make_pipeline(columns, LogisticRegression()).fit(frame[["age", "income", "housing"]],
                                                                   frame["label"])
        body = self._accepted(upload, sio.dumps(pipeline), "sklearn", "scorer.skops")
        assert body["features"] == ["age", "income", "housing"]
