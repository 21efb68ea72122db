"""transform through ONNX Runtime and OpenVINO: close to torch, exported once, rebuilt."""

from __future__ import annotations

import json
import logging
import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import skcse._backends as backends
from conftest import make_texts
from skcse import SimCSEEncoder
from skcse._persistence import META_FILE
from skcse.encoder import _PARAMS_ADDED_LATER

# (backend, quantize, lowest row cosine to torch's vectors): fp32 exports match to rounding.
CASES = [
    pytest.param("onnx", False, 0.9999, id="onnx"),
    pytest.param("onnx", True, 0.99, id="onnx-int8"),
    pytest.param("openvino", False, 0.9999, id="openvino"),
    pytest.param("openvino", True, 0.99, id="openvino-int8"),
]
_PACKAGES = {"onnx": "onnxruntime", "openvino": "openvino"}


def _copy(encoder: SimCSEEncoder) -> SimCSEEncoder:
    return pickle.loads(pickle.dumps(encoder))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def fitted(tiny_bert, texts) -> SimCSEEncoder:
    # A high learning rate moves the weights far from the folder's: an export of anything
    # but the trained weights would not match torch's vectors.
    return SimCSEEncoder(
        tiny_bert, batch_size=8, max_steps=2, learning_rate=1e-2, precision="fp32", random_state=0
    ).fit(texts)


@pytest.fixture
def count_exports(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    export = backends.export_backend

    def counted(model, backend, **kwargs):
        calls.append((backend, kwargs["quantize"]))
        return export(model, backend, **kwargs)

    monkeypatch.setattr(backends, "export_backend", counted)
    return calls


@pytest.mark.parametrize(("backend", "quantize", "min_cosine"), CASES)
def test_close_to_torch(fitted, texts, backend, quantize, min_cosine, monkeypatch):
    pytest.importorskip(_PACKAGES[backend])
    expected = fitted.transform(texts)
    # A bare root logger, as in a script (pytest's own handlers hide the next point):
    # ONNX Runtime's quantizer logs through logging.info, which would configure it.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    out = _copy(fitted).set_params(backend=backend, quantize=quantize).transform(texts)
    assert root.handlers == []
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert _cosines(out, expected).min() >= min_cosine


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_threads_transform_at_once(fitted, texts, backend):
    # dask's threaded scheduler shares one encoder between threads.
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip(_PACKAGES[backend])
    encoder = _copy(fitted).set_params(backend=backend, batch_size=4)
    expected = encoder.transform(texts)
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(encoder.transform, [texts] * 4))
    for out in outs:
        np.testing.assert_array_equal(out, expected)


def test_export_of_a_short_max_seq_length_logs_nothing(tiny_bert, texts, monkeypatch):
    pytest.importorskip("onnxruntime")
    # The export's example, 6 tokens, is longer than max_seq_length=4: transformers warned.
    encoder = SimCSEEncoder(tiny_bert, epochs=0, max_seq_length=4, backend="onnx", verbose=0)
    encoder.fit(texts)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers")
    monkeypatch.setattr(logger, "handlers", [*logger.handlers, handler])
    encoder.transform(texts)
    assert [record.getMessage() for record in records] == []


def test_exported_once_and_follows_params(fitted, texts, count_exports):
    pytest.importorskip("onnxruntime")
    encoder = _copy(fitted).set_params(backend="onnx")
    first = encoder.transform(texts)
    np.testing.assert_array_equal(encoder.transform(texts), first)
    assert count_exports == [("onnx", False)]
    # Output parameters are stacked on the same export, as on model_.
    for params in ({"pooling": "cls"}, {"normalize": True}, {"max_seq_length": 4}):
        expected = _copy(encoder).set_params(backend="torch", **params).transform(texts)
        out = encoder.set_params(**params).transform(texts)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert count_exports == [("onnx", False)]
    encoder.set_params(quantize=True).transform(texts[:2])
    assert count_exports == [("onnx", False), ("onnx", True)]


def test_fit_transform_memory_follows_backend(tiny_bert, texts, count_exports):
    pytest.importorskip("onnxruntime")
    encoder = SimCSEEncoder(tiny_bert, epochs=0)
    embedding = encoder.fit_transform(texts)
    out = encoder.set_params(backend="onnx").transform(texts)
    assert count_exports == [("onnx", False)]  # not the remembered torch vectors
    assert _cosines(out, embedding).min() >= 0.9999


def test_rebuilt_after_pickle_and_load(fitted, texts, tmp_path, count_exports):
    pytest.importorskip("onnxruntime")
    encoder = _copy(fitted).set_params(backend="onnx")
    expected = encoder.transform(texts)
    assert "_exported" not in encoder.__getstate__() and "_exported" in vars(encoder)
    np.testing.assert_allclose(_copy(encoder).transform(texts), expected)
    encoder.save(tmp_path / "saved")
    loaded = SimCSEEncoder.load(tmp_path / "saved")
    assert loaded.get_params()["backend"] == "onnx"
    np.testing.assert_allclose(loaded.transform(texts), expected)
    assert count_exports == [("onnx", False)] * 3
    assert "backend" in clone(encoder).get_params() and "_exported" not in vars(clone(encoder))


def test_older_folder_and_pickle_get_defaults(fitted, texts, tmp_path):
    fitted.save(tmp_path / "saved")
    meta_file = tmp_path / "saved" / META_FILE
    meta = json.loads(meta_file.read_text())
    # What the versions before each parameter did: torch, fp32 weights, every layer trained.
    before = {
        "backend": "torch",
        "quantize": False,
        "trainable_layers": None,
        "compute_alignment": False,
    }
    for name in _PARAMS_ADDED_LATER:
        del meta["params"][name]
    meta_file.write_text(json.dumps(meta))
    loaded = SimCSEEncoder.load(tmp_path / "saved")
    assert {name: getattr(loaded, name) for name in _PARAMS_ADDED_LATER} == before
    np.testing.assert_array_equal(loaded.transform(texts), fitted.transform(texts))
    # An unknown parameter is still refused.
    meta["params"]["backends"] = "onnx"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown key 'backends'"):
        SimCSEEncoder.load(tmp_path / "saved")

    state = fitted.__getstate__()
    for name in _PARAMS_ADDED_LATER:
        del state[name]
    old = SimCSEEncoder.__new__(SimCSEEncoder)
    old.__setstate__(state)
    assert old.get_params() == {**fitted.get_params(), **before}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"backend": "tensorrt"}, "'backend' parameter"),
        ({"quantize": "yes"}, "'quantize' parameter"),
        ({"quantize": True}, "'quantize' parameter .* needs backend='onnx'"),
    ],
)
def test_invalid_values_are_named(fitted, texts, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        SimCSEEncoder(**params).fit(texts)
    encoder = _copy(fitted).set_params(**params)  # set_params only stores
    with pytest.raises(InvalidParameterError, match=match):
        encoder.transform(texts)


def test_missing_extra_named_at_fit_and_transform(fitted, texts, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'skcse\[fast\]'"):
        SimCSEEncoder(backend="onnx", epochs=0).fit(make_texts(2)[0])
    encoder = SimCSEEncoder(backend="onnx")  # __init__ only stores
    assert encoder.backend == "onnx"
    with pytest.raises(ImportError, match=r"backend='onnx' needs the package 'onnxruntime'"):
        _copy(fitted).set_params(backend="onnx").transform(texts)


@pytest.mark.integration
def test_real_model_int8_cosine_to_fp32(reviews):
    for package in _PACKAGES.values():
        pytest.importorskip(package)
    texts = reviews["Text"].sample(100, random_state=0).tolist()
    encoder = SimCSEEncoder(epochs=0, precision="fp32").fit(texts[:2])
    expected = encoder.transform(texts)
    for backend in ("onnx", "openvino"):
        out = encoder.set_params(backend=backend, quantize=True).transform(texts)
        assert _cosines(out, expected).mean() >= 0.99, backend
