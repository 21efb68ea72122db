"""Persistence of a fitted encoder: folders without pickle, and the pickle hooks.

A folder is sentence-transformers' own (``SentenceTransformer.save``: safetensors weights,
tokenizer and module files, so ``SentenceTransformer(folder)`` loads it) plus the skcse
metadata as JSON. ``skcse.json`` also lists every other file of the folder with its size and
sha256, so that a damaged or altered folder is refused at load instead of giving wrong
vectors. A pickle holds the same files' bytes, written from CPU copies of the weights.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

from skcse._backbone import transformers_quiet
from skcse._io import apply_umask, check_writable
from skcse._validation import user_stacklevel

__all__ = [
    "META_FILE",
    "check_target",
    "get_state",
    "read_meta",
    "read_model",
    "set_state",
    "usable_device",
    "verify_folder",
    "warn_other_version",
    "write_folder",
]

META_FILE = "skcse.json"
# The keys of skcse.json; MANIFEST_KEY is absent from the folders of skcse 0.1.
META_KEYS = ("skcse_version", "params", "n_steps_", "history_", "resumed_from_step_")
MANIFEST_KEY = "files"
# A folder without a manifest (skcse 0.1) must hold these: one name of each group.
_REQUIRED_FILES = {
    "the model config": ("config.json",),
    "the weights": ("model.safetensors", "model.safetensors.index.json"),
    "the tokenizer's vocabulary": (
        "tokenizer.json",
        "vocab.txt",
        "vocab.json",
        "spiece.model",
        "sentencepiece.bpe.model",
        "tokenizer.model",
    ),
}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def check_target(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Check that a model folder may be written at ``path``, before any work is done.

    Parameters
    ----------
    path : str or path-like
        Where the folder is to be written.
    overwrite : bool
        Whether an existing folder written by skcse may be replaced.

    Returns
    -------
    pathlib.Path
        ``path``, absolute, with symbolic links resolved.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False; or if it exists and is not a folder
        written by skcse (a file, a folder without skcse's ``skcse.json``, or one holding
        files that skcse did not write), since skcse only replaces folders it wrote.
    PermissionError
        If the nearest existing folder on the way to ``path`` is not writable.
    NotADirectoryError
        If a parent of ``path`` is a file.

    Notes
    -----
    Nothing is created. Should ``path`` be missing while a replacement that was interrupted
    (see :func:`write_folder`) left its model aside next to it, that model is first moved
    back, with a warning.
    """
    target = Path(path).expanduser().resolve()
    _recover(target)
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
        _check_replaceable(target)
    check_writable(target)
    return target


def write_folder(
    path: str | os.PathLike[str],
    *,
    model: Any,
    meta: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write the folder atomically: everything goes to a sibling staging folder first.

    A new folder is then renamed into place. An existing one is swapped with the staging
    folder in one step where the system can (Linux's ``renameat2`` with ``RENAME_EXCHANGE``),
    so that ``path`` holds a complete model at every instant. Elsewhere the old folder is
    moved to ``.NAME-old-XXXXXXXX/old`` and the new one renamed into place; should the
    process die between the two, the next :func:`check_target` or :func:`read_meta` of
    ``path`` moves the old folder back. Files and folders get the usual modes under the
    umask (0644 and 0755 under umask 022).

    Parameters
    ----------
    path : str or path-like
        The folder to create.
    model : sentence_transformers.SentenceTransformer
        Written by its own ``save``.
    meta : dict
        JSON-serialisable skcse metadata (parameters and fitted attributes); the manifest of
        the files written is added to it under ``"files"``.
    overwrite : bool, default=False
        Replace an existing folder written by skcse.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    FileExistsError, PermissionError, NotADirectoryError
        As :func:`check_target`, before anything is written; FileExistsError also when
        another process wrote ``path`` meanwhile (it is then left as it is, unless
        ``overwrite`` allows replacing it).
    OSError
        If writing fails (a full disk, for one); ``path`` is then left as it was, and no
        staging folder remains.
    """
    target = check_target(path, overwrite=overwrite)
    created = [parent for parent in target.parents if not parent.exists()]
    staging = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        _write_model(model, staging, target)
        apply_umask(staging)
        _write_json(staging / META_FILE, {**meta, MANIFEST_KEY: _manifest(staging)})
        _swap_in(staging, target, overwrite)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for parent in created:  # nearest first; each is empty once its child is gone
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise
    return target


def read_meta(
    path: str | os.PathLike[str],
    *,
    param_names: Collection[str],
    added_later: Collection[str] = (),
) -> tuple[Path, dict[str, Any]]:
    """Read and check the ``skcse.json`` of a folder written by :func:`write_folder`.

    Parameters
    ----------
    path : str or path-like
        The folder.
    param_names : collection of str
        The estimator's parameters, which ``skcse.json`` must hold, no more and no fewer.
        Their values are checked by the estimator.
    added_later : collection of str, default=()
        Those of ``param_names`` that folders written by earlier versions lack; they may be
        missing (the estimator gives them their defaults).

    Returns
    -------
    folder : pathlib.Path
    meta : dict

    Raises
    ------
    FileNotFoundError
        If the folder or its ``skcse.json`` is missing.
    ValueError
        If ``skcse.json`` is not valid JSON, misses a key or has an unknown one, or holds a
        fitted attribute of the wrong type or range. The message names the key and the file.
    """
    folder = Path(path).expanduser()
    _recover(folder.resolve())
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{folder} is not a saved SimCSEEncoder: {META_FILE} is missing. Save one with "
            "SimCSEEncoder.save(path)."
        )
    meta = _read_json_object(meta_file)
    _check_keys(meta, META_KEYS, optional=(MANIFEST_KEY,), where=str(meta_file))
    if not isinstance(meta["skcse_version"], str):
        raise ValueError(f"{meta_file}: skcse_version must be a string.")
    if not isinstance(meta["params"], dict):
        raise ValueError(f"{meta_file}: params must be a JSON object of parameter values.")
    required = [name for name in param_names if name not in added_later]
    _check_keys(meta["params"], required, optional=added_later, where=f"{meta_file} (params)")
    _check_fitted(meta, meta_file)
    return folder, meta


def read_model(
    folder: str | os.PathLike[str],
    *,
    pooling: str,
    normalize: bool,
    max_seq_length: int,
    device: str,
) -> Any:
    """Check a folder's files and load it as a SentenceTransformer, pooling as told.

    The module stack is built here from the transformer in the folder and the given output
    parameters; ``modules.json``, which names the module classes to import, is never read.
    Nothing is unpickled and no code shipped with the folder is run.

    Parameters
    ----------
    folder : str or path-like
        A folder written by :func:`write_folder`, or by skcse 0.1.
    pooling, normalize, max_seq_length
        The encoder's parameters.
    device : str
        Where the model goes.

    Returns
    -------
    sentence_transformers.SentenceTransformer
        In eval mode.

    Raises
    ------
    ValueError
        If the folder is damaged (see :func:`verify_folder`) or its files cannot be read
        as a model.
    OSError
        If reading fails.
    """
    from skcse._backbone import load_backbone, sentence_transformer

    # load_backbone verifies the folder, since it holds skcse.json.
    transformer = load_backbone(folder, max_seq_length=max_seq_length, safetensors_only=True)
    return sentence_transformer(transformer, pooling, normalize, device).eval()


def verify_folder(folder: str | os.PathLike[str]) -> None:
    """Check that the files of a folder written by skcse are those it wrote.

    With a manifest in ``skcse.json``, every file listed must be there with its size and
    sha256. A folder of skcse 0.1, without one, must hold its config, weights and
    vocabulary.

    Parameters
    ----------
    folder : str or path-like
        A folder holding ``skcse.json``.

    Raises
    ------
    ValueError
        Naming the first file missing or changed.
    """
    folder = Path(folder)
    meta_file = folder / META_FILE
    manifest = _read_json_object(meta_file).get(MANIFEST_KEY)
    if manifest is None:
        for what, names in _REQUIRED_FILES.items():
            if not any((folder / name).is_file() for name in names):
                raise ValueError(
                    f"{folder} is damaged: it lacks {what} ({' or '.join(names)}); save the "
                    "encoder again."
                )
        return
    if not isinstance(manifest, dict):
        raise ValueError(f"{meta_file}: {MANIFEST_KEY} must map file names to sizes and hashes.")
    for name, entry in manifest.items():
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"{meta_file}: {MANIFEST_KEY} lists {name!r}, outside the folder.")
        if not (isinstance(entry, dict) and set(entry) == {"size", "sha256"}):
            raise ValueError(f"{meta_file}: {MANIFEST_KEY}[{name!r}] must hold size and sha256.")
        file = folder / name
        if not file.is_file():
            raise ValueError(f"{folder} is damaged: {name} is missing; save the encoder again.")
        if file.stat().st_size != entry["size"]:
            raise ValueError(
                f"{folder} is damaged: {name} has {file.stat().st_size} bytes, and {META_FILE} "
                f"records {entry['size']}; save the encoder again."
            )
        if _sha256(file) != entry["sha256"]:
            raise ValueError(
                f"{folder} is damaged or was altered: the sha256 of {name} differs from the one "
                f"recorded in {META_FILE}."
            )


def _write_model(model: Any, folder: Path, target: Path, *, card: bool = True) -> None:
    from safetensors import SafetensorError

    with transformers_quiet(True):
        try:
            model.save(str(folder), create_model_card=card)
        except SafetensorError as exc:
            # The Rust writer reports a full disk as "... (os error 28)", not as an OSError.
            code = re.search(r"\(os error (\d+)\)", str(exc))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1])), str(target)) from exc


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got a {type(data).__name__}.")
    return data


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        file.relative_to(folder).as_posix(): {"size": file.stat().st_size, "sha256": _sha256(file)}
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    }


def _check_keys(
    data: dict[str, Any], required: Collection[str], *, optional: Collection[str] = (), where: str
) -> None:
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(
            f"{where} lacks the key {missing[0]!r}: the folder is damaged or was not written "
            "by SimCSEEncoder.save."
        )
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ValueError(
            f"{where} has the unknown key {unknown[0]!r}: the folder was written by another "
            "version of skcse, or altered."
        )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_fitted(meta: dict[str, Any], meta_file: Path) -> None:
    n_steps = meta["n_steps_"]
    if not _is_count(n_steps):
        raise ValueError(f"{meta_file}: n_steps_ must be an integer >= 0, got {n_steps!r}.")
    resumed = meta["resumed_from_step_"]
    if not _is_count(resumed) or resumed > n_steps:
        raise ValueError(
            f"{meta_file}: resumed_from_step_ must be an integer from 0 to n_steps_ "
            f"({n_steps}), got {resumed!r}."
        )
    history = meta["history_"]
    if not isinstance(history, dict) or not all(
        isinstance(values, list)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        for values in history.values()
    ):
        raise ValueError(f"{meta_file}: history_ must map names to lists of numbers.")
    for key in ("loss", "learning_rate"):
        if len(history.get(key, [])) != n_steps:
            raise ValueError(
                f"{meta_file}: history_[{key!r}] must hold one value per step "
                f"(n_steps_={n_steps}), got {len(history.get(key, []))}."
            )


def _check_replaceable(target: Path) -> None:
    refusal = (
        "skcse only replaces folders it wrote; choose another path, or move or remove it yourself."
    )
    meta_file = target / META_FILE
    try:
        meta = _read_json_object(meta_file) if meta_file.is_file() else {}
    except (OSError, ValueError):
        meta = {}
    if not target.is_dir() or "skcse_version" not in meta:
        raise FileExistsError(
            f"{target} is not a folder written by skcse (it has no valid {META_FILE}): {refusal}"
        )
    manifest = meta.get(MANIFEST_KEY)
    if not isinstance(manifest, dict):
        return  # skcse 0.1 recorded no manifest; its skcse.json is all there is to go by
    known = set(manifest) | {META_FILE}
    # Empty folders hold nothing to lose; any file or link not in the manifest does.
    foreign = sorted(
        path.relative_to(target).as_posix()
        for path in target.rglob("*")
        if not path.is_dir() or path.is_symlink()
        if path.relative_to(target).as_posix() not in known
    )
    if foreign:
        raise FileExistsError(
            f"{target} holds files that skcse did not write ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}): {refusal}"
        )


def _recover(target: Path) -> None:
    """Move back the model that an interrupted replacement left in ``.NAME-old-*/old``."""
    if os.path.lexists(target):
        return
    # mkdtemp's random part has 8 characters: this does not match other targets' leftovers.
    pattern = f".{glob.escape(target.name)}-old-{'?' * 8}/old"
    leftovers = [old for old in target.parent.glob(pattern) if (old / META_FILE).is_file()]
    if not leftovers:
        return
    newest = max(leftovers, key=lambda old: old.parent.stat().st_mtime)
    os.rename(newest, target)
    newest.parent.rmdir()
    warnings.warn(
        f"{target} was missing after an interrupted save; the model it held was moved back "
        f"from {newest.parent}.",
        UserWarning,
        stacklevel=3,
    )


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False  # a C library without the wrapper (glibc before 2.28)
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        # An old kernel, a file system without the flag, or a sandbox that forbids the call.
        if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


def _swap_in(staging: Path, target: Path, overwrite: bool) -> None:
    """Put the complete folder ``staging`` at ``target``, replacing what check_target allowed.

    ``target`` is checked again: another process may have written it since.
    """
    appeared = f"{target} appeared while this model was being written"
    if not target.exists():
        try:
            # Unlike a file, a folder cannot be renamed over one that has contents.
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise FileExistsError(f"{appeared}; it is left as it is.") from None
        return
    if not overwrite:
        raise FileExistsError(f"{appeared}; pass overwrite=True to replace it.")
    _check_replaceable(target)
    if _exchange(staging, target):
        shutil.rmtree(staging)  # it now holds the old folder
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    try:
        os.replace(target, backup / "old")
    except BaseException:
        backup.rmdir()
        raise
    try:
        os.replace(staging, target)
    except BaseException:
        # Should this fail too, the old folder stays in the backup, for _recover.
        os.replace(backup / "old", target)
        backup.rmdir()
        raise
    shutil.rmtree(backup)


def folder_identity(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """Return the device, inode and change time of the folder at ``path`` (None if none).

    Every save makes a new folder and renames it into place, so a changed identity means the
    folder was replaced; the change time tells a new folder from an old one whose freed
    inode number it reuses.
    """
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_ctime_ns


def usable_device(device: str) -> str:
    """Return ``device`` if this machine has it, else "cpu" with a warning."""
    from skcse._backbone import device_available, parse_device

    if device_available(parse_device(device)):
        return device
    warnings.warn(
        f"This SimCSEEncoder was fitted on {device!r}, which is not available here; "
        "it is loaded on the CPU.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return "cpu"


def warn_other_version(version: str | None) -> None:
    """Warn when a saved or pickled encoder comes from another version of skcse."""
    from skcse import __version__

    if version is not None and version != __version__:
        warnings.warn(
            f"This SimCSEEncoder was written by skcse {version} and is loaded with skcse "
            f"{__version__}; results may differ.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def get_state(state: dict[str, Any]) -> dict[str, Any]:
    """Return the pickled form of an encoder's ``__dict__``: ``model_`` as its folder's bytes.

    The bytes are those of ``SentenceTransformer.save``, whose weights are CPU copies, so a
    model fitted on a GPU unpickles on a machine without one.
    """
    from skcse import __version__

    state = {**state, "_skcse_version": __version__}
    # The backend's export is rebuilt from model_ at the next transform.
    state.pop("_exported", None)
    model = state.pop("model_", None)
    if model is not None:
        with tempfile.TemporaryDirectory() as folder:
            _write_model(model, Path(folder), Path(folder), card=False)
            state["_model_files"] = {
                file.relative_to(folder).as_posix(): file.read_bytes()
                for file in sorted(Path(folder).rglob("*"))
                if file.is_file()
            }
    return state


def set_state(state: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`get_state`, and read the pickles of skcse 0.1 too.

    Returns
    -------
    dict
        The encoder's ``__dict__``, with ``model_`` on its fitted device if this machine has
        it, else on the CPU (with a warning).
    """
    state = dict(state)
    warn_other_version(state.pop("_skcse_version", None))
    files = state.pop("_model_files", None)
    old = state.pop("_model_state", None)
    tokenizer = state.pop("tokenizer_", None)
    if files is None and old is None:
        return state
    state["device_"] = usable_device(state["device_"])
    with tempfile.TemporaryDirectory() as folder:
        if old is not None:
            _write_01_model(Path(folder), old, tokenizer)
        else:
            for name, data in files.items():
                (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(folder) / name).write_bytes(data)
        state["model_"] = read_model(
            folder,
            pooling=state["pooling"],
            normalize=state["normalize"],
            max_seq_length=state["max_seq_length"],
            device=state["device_"],
        )
    return state


def _write_01_model(folder: Path, old: dict[str, Any], tokenizer: Any) -> None:
    # skcse 0.1 pickled a transformers config, torch.save'd weights and the tokenizer apart.
    import torch
    from safetensors.torch import save_file

    if tokenizer is None or not {"config", "weights"} <= set(old):
        raise ValueError(
            "This pickle of a SimCSEEncoder lacks its model's config, weights or tokenizer; "
            "fit the encoder again."
        )
    old["config"].save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    weights = torch.load(io.BytesIO(old["weights"]), map_location="cpu", weights_only=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, folder / "model.safetensors")
