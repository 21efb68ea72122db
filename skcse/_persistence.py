"""Saving and loading a trained backbone as a folder, without pickle.

The folder holds safetensors weights, the tokenizer files, the skcse metadata as JSON, and
the sentence-transformers module files, so ``SentenceTransformer(folder)`` loads it as well.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from skcse._backbone import transformers_quiet

__all__ = ["META_FILE", "read_folder", "write_folder"]

META_FILE = "skcse.json"


def _sentence_transformers_files(
    folder: Path, *, pooling: str, dimension: int, max_seq_length: int, normalize: bool
) -> None:
    kinds = ["Transformer", "Pooling"] + (["Normalize"] if normalize else [])
    paths = ["", "1_Pooling", "2_Normalize"]
    modules = [
        {"idx": i, "name": str(i), "path": paths[i], "type": f"sentence_transformers.models.{kind}"}
        for i, kind in enumerate(kinds)
    ]
    for entry in modules[1:]:
        (folder / entry["path"]).mkdir()
    pooling_config = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    _write_json(folder / "1_Pooling" / "config.json", pooling_config)
    _write_json(folder / "modules.json", modules)
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": max_seq_length, "do_lower_case": False},
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_folder(
    path: str | os.PathLike[str],
    *,
    model: Any,
    tokenizer: Any,
    meta: dict[str, Any],
    pooling: str,
    max_seq_length: int,
    normalize: bool,
    overwrite: bool = False,
) -> Path:
    """Write the folder atomically: everything goes to a sibling temp folder, then is renamed.

    Parameters
    ----------
    path : str or path-like
        The folder to create.
    model, tokenizer
        The transformers model and tokenizer.
    meta : dict
        JSON-serialisable skcse metadata (parameters and fitted attributes).
    pooling, max_seq_length, normalize
        Written into the sentence-transformers module files.
    overwrite : bool, default=False
        Replace an existing folder. Without it an existing path is an error.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    target = Path(path).expanduser().resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    # mkdtemp makes the folder private (0700); the saved model is meant to be shared.
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        with transformers_quiet(True):
            model.save_pretrained(staging, safe_serialization=True)
            tokenizer.save_pretrained(staging)
        _sentence_transformers_files(
            staging,
            pooling=pooling,
            dimension=int(model.config.hidden_size),
            max_seq_length=max_seq_length,
            normalize=normalize,
        )
        _write_json(staging / META_FILE, meta)
        if target.exists():
            # Move the old folder aside first, so that a failure never leaves neither.
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            os.replace(target, backup / "old")
            os.replace(staging, target)
            shutil.rmtree(backup)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_folder(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Any, Any]:
    """Read a folder written by :func:`write_folder`.

    Only JSON, tokenizer files and safetensors weights are read: nothing is unpickled.

    Returns
    -------
    meta : dict
    tokenizer : transformers.PreTrainedTokenizerBase
    model : torch.nn.Module
        On the CPU, in eval mode.

    Raises
    ------
    FileNotFoundError
        If the folder or its skcse metadata is missing.
    """
    from transformers import AutoModel, AutoTokenizer

    folder = Path(path).expanduser()
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{folder} is not a saved SimCSEEncoder: {META_FILE} is missing. Save one with "
            "SimCSEEncoder.save(path)."
        )
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    with transformers_quiet(True):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder, use_safetensors=True)
    model.eval()
    return meta, tokenizer, model
