"""``transform`` through ONNX Runtime or OpenVINO: an export of the fitted transformer.

The transformer of ``model_`` is exported to ONNX by ``torch.onnx.export``; ONNX Runtime runs
that graph (int8: after ``onnxruntime.quantization.quantize_dynamic``), or OpenVINO reads it
(int8: after ``nncf.compress_weights``). The runtime takes the place of the torch model in a
copy of sentence-transformers' ``Transformer`` module, so that tokenization, length-sorted
batches and pooling stay sentence-transformers' own.

sentence-transformers' ``backend="onnx"``/``"openvino"`` would do the export through optimum,
but optimum-onnx 0.1 and optimum-intel 2.2 require transformers < 4.58 and < 5.6, older than
skcse's; hence the libraries' own functions here. Nothing is pickled or saved: an encoder
exports again after unpickling or loading.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["check_backend", "export_backend"]

# The modules each backend imports, and for int8; all come with skcse's "fast" extra.
_NEEDS = {"onnx": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino")}
_NEEDS_INT8 = {"openvino": ("nncf",)}
_OUTPUT = "last_hidden_state"


def check_backend(backend: str, quantize: bool = False) -> None:
    """Raise an ImportError naming the extra to install when ``backend`` is not installed.

    Parameters
    ----------
    backend : {"torch", "onnx", "openvino"}
    quantize : bool, default=False
        Whether int8 is asked for, which OpenVINO's needs nncf.

    Raises
    ------
    ImportError
        If a package that ``backend`` needs cannot be imported.
    """
    names = _NEEDS.get(backend, ()) + (_NEEDS_INT8.get(backend, ()) if quantize else ())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(
                f"backend={backend!r} needs the package {name!r}, which is not installed: "
                "pip install 'skcse[fast]' (or use backend='torch')."
            ) from exc


class _LastHiddenState(torch.nn.Module):
    # The graph's one output: the token vectors that the pooling layers read.
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.model(**inputs, return_dict=True)[_OUTPUT]


class _Runtime(torch.nn.Module):
    """Stands in for the torch model of a ``Transformer`` module: runs the exported graph."""

    def __init__(self, run: Callable[[dict[str, np.ndarray]], np.ndarray], names, config):
        super().__init__()
        self.run = run
        self.input_names = names
        self.config = config  # read by the Transformer module

    def forward(self, **features: Any) -> dict[str, torch.Tensor]:
        feeds = {name: features[name].cpu().numpy() for name in self.input_names}
        return {_OUTPUT: torch.from_numpy(np.asarray(self.run(feeds), dtype=np.float32))}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # Tracing warns about Python branches on shapes (the padded example keeps the mask's),
    # ONNX Runtime's quantizer advises on the root logger and nncf logs its steps with a
    # progress bar; verbose=0 must print nothing, and these say nothing a user can act on.
    loggers = [logging.getLogger(), logging.getLogger("nncf")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    # logging.info() on a root logger without handlers calls basicConfig, which would leave a
    # stderr handler behind and make the application's own basicConfig do nothing.
    guard = logging.NullHandler()
    loggers[0].addHandler(guard)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        loggers[0].removeHandler(guard)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _export_onnx(transformer: Any, path: str) -> list[str]:
    """Write the transformer as an ONNX graph with dynamic batch and length; return its inputs."""
    # A padded example, so that tracing keeps the attention mask's path; quiet when it is
    # longer than a small max_seq_length (lengths are dynamic axes of the graph anyway).
    example = transformer.tokenizer(
        ["a b c d", "a"], padding=True, return_tensors="pt", verbose=False
    )
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in example]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, _OUTPUT]}
    with torch.no_grad():
        torch.onnx.export(
            _LastHiddenState(transformer.auto_model).eval(),
            tuple(example[name] for name in names),
            path,
            input_names=names,
            output_names=[_OUTPUT],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return names


def _onnx_runtime(path: str, quantize: bool) -> Callable:
    import onnxruntime as ort

    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = path.replace(".onnx", "-int8.onnx")
        quantize_dynamic(
            path,
            quantized,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            # Only products with a weight matrix: attention's own products stay fp32.
            extra_options={"MatMulConstBOnly": True},
        )
        path = quantized
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run([_OUTPUT], feeds)[0]


def _openvino_runtime(path: str, quantize: bool, bf16: bool) -> Callable:
    import openvino as ov

    model = ov.Core().read_model(path)
    if quantize:
        import nncf

        # nncf draws a progress bar whatever its log level.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
    if quantize:
        # Int8 products: activations quantized at run time, per group of 32 values. Below
        # AVX-512 (measured under ONEDNN_MAX_CPU_ISA=AVX2) OpenVINO failed to build those
        # products, so there the int8 weights are multiplied in fp32.
        avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
        config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = "32" if avx512 else "0"
    compiled = ov.Core().compile_model(model, "CPU", config)
    # Calling the compiled model runs its one shared request, which a second thread finds
    # busy; a request per call lets threads (dask's threaded scheduler) embed at once.
    return lambda feeds: compiled.create_infer_request().infer(feeds)[0]


def export_backend(transformer: Any, backend: str, *, quantize: bool, bf16: bool) -> Any:
    """Export a sentence-transformers ``Transformer`` module to ``backend``, for the CPU.

    Parameters
    ----------
    transformer : sentence_transformers.base.modules.Transformer
        ``model_[0]``, left as it is.
    backend : {"onnx", "openvino"}
    quantize : bool
        Int8 weights: ONNX Runtime's dynamic quantization of the products with a weight
        matrix (weights per channel); for OpenVINO, nncf's data-free INT8_ASYM weight
        compression and, with AVX-512, dynamic quantization of the activations.
    bf16 : bool
        OpenVINO only: compute in bf16 (``INFERENCE_PRECISION_HINT``), else in fp32.

    Returns
    -------
    sentence_transformers.base.modules.Transformer
        A copy of ``transformer`` sharing its tokenizer, whose model is the runtime; stack
        pooling layers on it.
    """
    check_backend(backend, quantize)
    with _quiet(), tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        path = os.path.join(folder, "model.onnx")
        names = _export_onnx(transformer, path)
        if backend == "onnx":
            run = _onnx_runtime(path, quantize)
        else:
            run = _openvino_runtime(path, quantize, bf16)
    module = copy.copy(transformer)
    # An own registry of submodules, so that replacing the model leaves transformer's alone.
    module._modules = {**transformer._modules}
    module.model = _Runtime(run, names, transformer.auto_model.config)
    return module
