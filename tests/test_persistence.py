"""Saved folders: what overwrite may replace, atomic replacement, integrity, safe loading."""

from __future__ import annotations

import builtins
import copy
import errno
import json
import os
import shutil
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from skcse import SimCSEEncoder, _persistence
from skcse._persistence import META_FILE, check_target

MARKER = "custom-code-ran"


class _Died(BaseException):
    """The process dying at this point: no cleanup code may catch it."""


@pytest.fixture(scope="module")
def encoder(tiny_bert, texts) -> SimCSEEncoder:
    params = dict(batch_size=4, max_seq_length=32, precision="fp32", device="cpu")
    return SimCSEEncoder(tiny_bert, max_steps=1, random_state=0, **params).fit(texts[:8])


@pytest.fixture(scope="module")
def pristine(encoder, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pristine") / "saved"
    encoder.save(folder)
    return folder


@pytest.fixture
def saved(pristine, tmp_path) -> Path:
    """A fresh copy of the saved encoder, alone in its parent folder."""
    folder = tmp_path / "saved"
    shutil.copytree(pristine, folder)
    return folder


@pytest.fixture
def no_prompt(monkeypatch) -> list[str]:
    """Fail on any question asked on the terminal (transformers asks before running code)."""
    asked: list[str] = []

    def refuse(prompt: str = "") -> str:
        asked.append(prompt)
        raise AssertionError(f"asked on the terminal: {prompt}")

    monkeypatch.setattr(builtins, "input", refuse)
    return asked


def _snapshot(root: Path) -> dict[str, bytes | None]:
    if root.is_file():
        return {".": root.read_bytes()}
    return {
        path.relative_to(root).as_posix(): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def _edit_meta(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        meta = json.loads((folder / META_FILE).read_text())
        edit(meta)
        (folder / META_FILE).write_text(json.dumps(meta))

    return damage


def _param(name: str, value: object) -> Callable[[Path], None]:
    return _edit_meta(lambda meta: meta["params"].__setitem__(name, value))


def _drop(*names: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return damage


def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _flip_a_byte(folder: Path) -> None:
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


def _as_skcse_01(damage: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A folder as skcse 0.1 wrote it, without the manifest, then ``damage``."""

    def both(folder: Path) -> None:
        _edit_meta(lambda meta: meta.pop("files", None))(folder)
        if damage is not None:
            damage(folder)

    return both


def _custom_code(*, keep_model_type: bool) -> Callable[[Path], None]:
    """Point config.json and tokenizer_config.json at a module that leaves a marker file."""

    def damage(folder: Path) -> None:
        marker = folder.parent / MARKER
        (folder / "evil.py").write_text(
            f"open({str(marker)!r}, 'w').close()\n"
            "from transformers import BertConfig, BertModel, BertTokenizerFast\n"
            "class EvilConfig(BertConfig):\n    model_type = 'evil'\n"
            "class EvilModel(BertModel):\n    config_class = EvilConfig\n"
            "class EvilTokenizer(BertTokenizerFast):\n    pass\n"
        )
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
        if not keep_model_type:
            del config["model_type"]
        (folder / "config.json").write_text(json.dumps(config))
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
        tokenizer_config["auto_map"] = {"AutoTokenizer": [None, "evil.EvilTokenizer"]}
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    return damage


def _evil_module_type(folder: Path) -> None:
    """Make modules.json name a class of a module that leaves a marker file when imported."""
    marker = folder.parent / MARKER
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from sentence_transformers.sentence_transformer.modules import Pooling\n"
        "class EvilPooling(Pooling):\n    pass\n"
    )
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "evil.EvilPooling"
    (folder / "modules.json").write_text(json.dumps(modules))


def _rehash(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    """``damage``, then a manifest that records the damaged files as skcse's own."""

    def both(folder: Path) -> None:
        damage(folder)
        files = _persistence._manifest(folder)
        del files[META_FILE]
        _edit_meta(lambda meta: meta.__setitem__("files", files))(folder)

    return both


LOAD_CASES = [
    pytest.param(_drop("skcse.json"), FileNotFoundError, ["skcse.json is missing"], id="plain"),
    pytest.param(
        _drop("tokenizer.json", "tokenizer_config.json"),
        ValueError,
        ["damaged", "tokenizer.json is missing"],
        id="tokenizer-missing",
    ),
    pytest.param(
        _as_skcse_01(_drop("tokenizer.json", "tokenizer_config.json")),
        ValueError,
        ["damaged", "vocabulary", "tokenizer.json"],
        id="tokenizer-missing-0.1",
    ),
    pytest.param(
        _as_skcse_01(_drop("tokenizer.json")),
        ValueError,
        ["damaged", "vocabulary"],
        id="vocabulary-missing-0.1",
    ),
    pytest.param(
        _as_skcse_01(_drop("model.safetensors")),
        ValueError,
        ["damaged", "weights", "model.safetensors"],
        id="weights-missing-0.1",
    ),
    pytest.param(_truncate, ValueError, ["damaged", "model.safetensors has"], id="truncated"),
    pytest.param(
        _as_skcse_01(_truncate), ValueError, ["Could not load the model"], id="truncated-0.1"
    ),
    pytest.param(_flip_a_byte, ValueError, ["sha256 of model.safetensors"], id="altered"),
    pytest.param(
        _custom_code(keep_model_type=True), ValueError, ["damaged", "config.json"], id="auto_map"
    ),
    pytest.param(
        _as_skcse_01(_custom_code(keep_model_type=False)),
        ValueError,
        ["auto_map", "never runs"],
        id="auto_map-0.1",
    ),
    pytest.param(
        _evil_module_type, ValueError, ["damaged", "modules.json has"], id="modules.json-altered"
    ),
    pytest.param(
        lambda folder: (folder / META_FILE).write_text("{not json"),
        ValueError,
        ["skcse.json is not valid JSON"],
        id="meta-not-json",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.pop("n_steps_")),
        ValueError,
        ["skcse.json lacks the key 'n_steps_'"],
        id="meta-key-missing",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta["params"].pop("batch_size")),
        ValueError,
        ["skcse.json (params) lacks the key 'batch_size'"],
        id="param-missing",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.__setitem__("extra", 1)),
        ValueError,
        ["skcse.json has the unknown key 'extra'"],
        id="meta-key-unknown",
    ),
    pytest.param(
        _param("batch_sizes", 8), ValueError, ["unknown key 'batch_sizes'"], id="param-unknown"
    ),
    pytest.param(_param("batch_size", -1), ValueError, ["skcse.json", "'batch_size'"], id="bs-1"),
    pytest.param(_param("batch_size", "64"), ValueError, ["'batch_size'"], id="batch_size-str"),
    pytest.param(_param("batch_size", 1e400), ValueError, ["'batch_size'"], id="batch_size-inf"),
    pytest.param(_param("normalize", "no"), ValueError, ["'normalize'"], id="normalize-no"),
    pytest.param(_param("keep_range", [0.9, 0.2]), ValueError, ["'keep_range'"], id="keep-order"),
    pytest.param(_param("keep_range", "wide"), ValueError, ["'keep_range'"], id="keep-type"),
    pytest.param(_param("pooling", "sum"), ValueError, ["'pooling'"], id="pooling"),
    pytest.param(_param("device", "gpu9"), ValueError, ["skcse.json", "device"], id="device"),
    pytest.param(
        _param("max_seq_length", 100_000),
        ValueError,
        ["skcse.json", "max_seq_length=100000", "512 token positions"],
        id="max_seq_length",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.__setitem__("n_steps_", -1)),
        ValueError,
        ["skcse.json: n_steps_ must be"],
        id="n_steps-negative",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.__setitem__("n_steps_", float("inf"))),
        ValueError,
        ["n_steps_ must be"],
        id="n_steps-inf",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.__setitem__("resumed_from_step_", 5)),
        ValueError,
        ["resumed_from_step_"],
        id="resumed-beyond",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta.__setitem__("history_", [1.0])),
        ValueError,
        ["history_ must map"],
        id="history-type",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta["history_"]["loss"].append(0.5)),
        ValueError,
        ["history_['loss']"],
        id="history-length",
    ),
    pytest.param(
        _edit_meta(lambda meta: meta["files"].__setitem__("../outside", {})),
        ValueError,
        ["outside the folder"],
        id="manifest-escape",
    ),
]


@pytest.mark.parametrize(("damage", "error", "parts"), LOAD_CASES)
def test_load_refuses_damaged_folders(saved, no_prompt, damage, error, parts):
    damage(saved)
    with pytest.raises(error) as info:
        SimCSEEncoder.load(saved)
    message = str(info.value)
    for part in parts:
        assert part in message
    assert "\n" not in message  # the command line shows one line
    assert no_prompt == []
    assert not (saved.parent / MARKER).exists()


def test_custom_code_is_never_run_nor_asked_about(saved, tiny_bert, texts, tmp_path, no_prompt):
    # A skcse 0.1 folder (no manifest) and a backbone given to fit, with and without a
    # model_type that transformers knows: the built-in BERT loads, or a clear error.
    old = tmp_path / "old" / "saved"
    shutil.copytree(saved, old)
    _as_skcse_01(_custom_code(keep_model_type=True))(old)
    loaded = SimCSEEncoder.load(old)
    assert type(loaded.model_[0].auto_model).__name__ == "BertModel"
    assert loaded.transform(texts[:2]).shape == (2, 32)
    for keep_model_type in (True, False):
        backbone = tmp_path / f"backbone-{keep_model_type}" / "model"
        shutil.copytree(tiny_bert, backbone)
        _custom_code(keep_model_type=keep_model_type)(backbone)
        encoder = SimCSEEncoder(backbone, epochs=0, device="cpu")
        if keep_model_type:
            assert type(encoder.fit(texts).model_[0].auto_model).__name__ == "BertModel"
        else:
            with pytest.raises(ValueError, match="auto_map"):
                encoder.fit(texts)
        assert not (backbone.parent / MARKER).exists()
    assert not (old.parent / MARKER).exists()
    assert no_prompt == []


def test_backbones_without_their_tokenizer_or_damaged_are_refused(
    saved, tiny_bert, texts, tmp_path
):
    backbone = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_bert, backbone)
    (backbone / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="5 tokens for a model of 30522"):
        SimCSEEncoder(backbone, epochs=0, device="cpu").fit(texts)
    _truncate(saved)  # a saved encoder is a backbone too
    with pytest.raises(ValueError, match="model.safetensors has"):
        SimCSEEncoder(saved, epochs=0, device="cpu").fit(texts)


def test_check_target(saved, tmp_path, monkeypatch):
    fresh = tmp_path / "new" / "deeper" / "model"
    assert check_target(fresh, overwrite=False) == fresh.resolve()
    assert not (tmp_path / "new").exists()  # nothing is created
    assert check_target(saved, overwrite=True) == saved.resolve()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        check_target(saved, overwrite=False)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(FileExistsError, match="only replaces folders it wrote"):
        check_target(notes, overwrite=True)
    with pytest.raises(FileExistsError, match="only replaces folders it wrote"):
        check_target(tmp_path, overwrite=True)
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_target(notes / "model", overwrite=False)
    # Tests run as root, who may write anywhere: the permission check is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(PermissionError, match=f"{tmp_path} is not writable"):
        check_target(fresh, overwrite=False)


def test_save_checks_the_location_before_writing(encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="not writable"):
        encoder.save(tmp_path / "a" / "saved")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_what_load_would_refuse_before_writing(encoder, saved, tmp_path):
    before = _snapshot(saved)
    # 1000 tokens: transform and load refuse it for a model of 512 positions.
    too_long = copy.deepcopy(encoder).set_params(max_seq_length=1000)
    for target, overwrite in ((tmp_path / "new", False), (saved, True)):
        with pytest.raises(ValueError, match="max_seq_length=1000 is longer than the 512"):
            too_long.save(target, overwrite=overwrite)
    assert not (tmp_path / "new").exists()
    assert _snapshot(saved) == before


def test_numpy_values_and_paths_of_a_grid_are_saved(encoder, texts, tmp_path):
    # GridSearchCV's best_estimator_ holds the grid's values: numpy scalars, paths.
    params = dict(
        max_seq_length=np.int64(24),
        temperature=np.float32(0.05),
        normalize=np.bool_(True),
        keep_range=(np.float64(0.5), 1.0),
        checkpoint_dir=tmp_path / "checkpoints",
        random_state=np.int64(3),
    )
    tuned = copy.deepcopy(encoder).set_params(**params)
    tuned.save(tmp_path / "saved")
    loaded = SimCSEEncoder.load(tmp_path / "saved")
    got = loaded.get_params()
    assert got["max_seq_length"] == 24 and got["random_state"] == 3 and got["normalize"] is True
    assert got["temperature"] == pytest.approx(0.05)
    assert tuple(got["keep_range"]) == (0.5, 1.0)
    assert got["checkpoint_dir"] == os.fspath(tmp_path / "checkpoints")
    np.testing.assert_allclose(loaded.transform(texts[:4]), tuned.transform(texts[:4]), atol=1e-6)


def test_save_warns_that_a_random_state_object_is_not_kept(encoder, tmp_path):
    seeded = copy.deepcopy(encoder).set_params(random_state=np.random.RandomState(0))
    with pytest.warns(UserWarning, match="has no JSON form: the saved encoder has random_state"):
        seeded.save(tmp_path / "saved")
    assert SimCSEEncoder.load(tmp_path / "saved").random_state is None


def _user_file(path: Path) -> None:
    path.write_text("my notes")


def _user_folder(path: Path) -> None:
    (path / "sub").mkdir(parents=True)
    (path / "texts.csv").write_text("text\nhello\n")
    (path / "sub" / "notes.md").write_text("keep me")


def _user_folder_with_a_json(path: Path) -> None:
    _user_folder(path)
    (path / META_FILE).write_text('{"theirs": true}')


@pytest.mark.parametrize(
    ("make", "into_saved"),
    [
        pytest.param(_user_file, False, id="file"),
        pytest.param(_user_folder, False, id="folder"),
        pytest.param(_user_folder_with_a_json, False, id="folder-with-skcse.json"),
        pytest.param(lambda path: _user_file(path / "notes.md"), True, id="saved-plus-a-file"),
        pytest.param(lambda path: _user_file(path / "1_Pooling" / "a"), True, id="saved-nested"),
    ],
)
def test_overwrite_replaces_only_folders_skcse_wrote(encoder, saved, make, into_saved, tmp_path):
    target = saved if into_saved else tmp_path / "target"
    make(target)
    before = _snapshot(target)
    siblings = sorted(tmp_path.iterdir())
    with pytest.raises(FileExistsError, match="skcse only replaces folders it wrote"):
        encoder.save(target, overwrite=True)
    assert _snapshot(target) == before
    assert sorted(tmp_path.iterdir()) == siblings


@pytest.mark.parametrize(
    ("overwrite", "make", "match"),
    [
        (False, _user_folder, "appeared while this model was being written; pass overwrite"),
        (False, shutil.copytree, "appeared while this model was being written; pass overwrite"),
        # Replacing a model is allowed, a user's folder never.
        (True, _user_folder, "skcse only replaces folders it wrote"),
    ],
)
def test_a_folder_written_there_during_the_save_is_kept(
    encoder, pristine, tmp_path, monkeypatch, overwrite, make, match
):
    import skcse._persistence as persistence

    target = tmp_path / "target"
    write_model = persistence._write_model
    written = []

    def another_process_writes_first(model, folder, final, **kwargs):
        write_model(model, folder, final, **kwargs)
        make(*([pristine, target] if make is shutil.copytree else [target]))
        written.append(_snapshot(target))

    monkeypatch.setattr(persistence, "_write_model", another_process_writes_first)
    with pytest.raises(FileExistsError, match=match):
        encoder.save(target, overwrite=overwrite)
    assert _snapshot(target) == written[0]
    assert [path.name for path in tmp_path.iterdir()] == ["target"]  # no staging left


def test_load_reads_again_a_folder_replaced_meanwhile(encoder, saved, monkeypatch):
    import skcse._persistence as persistence

    other = copy.deepcopy(encoder).set_params(pooling="cls")
    read_model = persistence.read_model
    replaced = []

    def another_process_saves(folder, **kwargs):
        if not replaced:  # between reading skcse.json and the weights, once
            replaced.append(other.save(saved, overwrite=True))
        return read_model(folder, **kwargs)

    monkeypatch.setattr(persistence, "read_model", another_process_saves)
    # Not the first read's parameters with the second folder's files: the second folder.
    assert SimCSEEncoder.load(saved).pooling == "cls"
    assert len(replaced) == 1


def _loaded_normalize(folder: Path) -> bool:
    return SimCSEEncoder.load(folder).normalize


@pytest.mark.parametrize("dies", [None, "before the swap", "after the swap"])
def test_replacement_keeps_a_model_at_the_path_at_every_instant(
    encoder, saved, tmp_path, monkeypatch, dies
):
    probe = [tmp_path / "probe-a", tmp_path / "probe-b"]
    for path in probe:
        path.mkdir()
    if not _persistence._exchange(*probe):
        pytest.skip("this system cannot swap two folders in one step")
    for path in probe:
        path.rmdir()
    newer = copy.deepcopy(encoder).set_params(normalize=True)
    seen = []
    exchange = _persistence._exchange

    def watched(first: Path, second: Path) -> bool:
        seen.append(_loaded_normalize(saved))
        if dies == "before the swap":
            raise _Died
        done = exchange(first, second)
        seen.append(_loaded_normalize(saved))
        if dies == "after the swap":
            raise _Died
        return done

    monkeypatch.setattr(_persistence, "_exchange", watched)
    if dies is None:
        newer.save(saved, overwrite=True)
    else:
        with pytest.raises(_Died):
            newer.save(saved, overwrite=True)
    assert seen == [False] if dies == "before the swap" else seen == [False, True]
    assert _loaded_normalize(saved) is (dies != "before the swap")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]


@pytest.mark.parametrize("next_call", ["load", "save", "save without overwrite"])
def test_interrupted_replacement_is_recovered_by_the_next_call(
    encoder, saved, tmp_path, monkeypatch, next_call
):
    # Where folders cannot be swapped in one step, the old one is moved aside first; the
    # process dies before the new one is renamed into place (and before any restoring).
    newer = copy.deepcopy(encoder).set_params(normalize=True)
    monkeypatch.setattr(_persistence, "_exchange", lambda first, second: False)
    replace = os.replace

    def dies_when_moving_to_the_target(source, destination):
        if Path(destination) == saved:
            raise _Died
        replace(source, destination)

    monkeypatch.setattr(os, "replace", dies_when_moving_to_the_target)
    with pytest.raises(_Died):
        newer.save(saved, overwrite=True)
    monkeypatch.undo()
    assert not saved.exists()
    assert [p.name for p in tmp_path.glob(".saved-old-*/old")] == ["old"]
    with pytest.warns(UserWarning, match="interrupted save"):
        if next_call == "load":
            assert SimCSEEncoder.load(saved).normalize is False
        elif next_call == "save":
            newer.save(saved, overwrite=True)
            assert _loaded_normalize(saved) is True
        else:
            with pytest.raises(FileExistsError, match="overwrite=True"):
                newer.save(saved)
            assert _loaded_normalize(saved) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_saved_files_follow_the_umask(encoder, tmp_path, umask, file_mode, dir_mode):
    previous = os.umask(umask)
    try:
        encoder.save(tmp_path / "saved")
    finally:
        os.umask(previous)
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [tmp_path / "saved", *(tmp_path / "saved").rglob("*")]
    }
    expected = {name: dir_mode if (tmp_path / name).is_dir() else file_mode for name in modes}
    assert modes == expected


def test_disk_full_during_save_keeps_the_old_folder(encoder, saved, tmp_path):
    resource = pytest.importorskip("resource")
    before = _snapshot(saved)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # A file-size limit makes writes fail as a full disk does, down in the Rust writer of
    # safetensors; the signal it would send is ignored so that the write returns an error.
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        with pytest.raises(OSError) as info:
            encoder.save(saved, overwrite=True)
        with pytest.raises(OSError):
            encoder.save(tmp_path / "new" / "folders" / "saved")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert info.value.errno == errno.EFBIG
    assert str(saved) in str(info.value)
    assert _snapshot(saved) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    np.testing.assert_allclose(
        SimCSEEncoder.load(saved).transform(["a dog"]), encoder.transform(["a dog"]), atol=1e-6
    )


def test_manifest_records_every_file(saved):
    meta = json.loads((saved / META_FILE).read_text())
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    assert set(meta["files"]) == files - {META_FILE}
    assert meta["files"]["config.json"]["size"] == (saved / "config.json").stat().st_size


@pytest.mark.parametrize("damage", [_rehash(_evil_module_type), _as_skcse_01(_evil_module_type)])
def test_module_types_named_in_the_folder_are_never_imported(saved, encoder, texts, damage):
    # Even past the manifest check, load builds its own module stack from skcse.json.
    damage(saved)
    loaded = SimCSEEncoder.load(saved)
    assert [type(module).__name__ for module in loaded.model_] == ["Transformer", "Pooling"]
    np.testing.assert_array_equal(loaded.transform(texts), encoder.transform(texts))
    assert not (saved.parent / MARKER).exists()


@pytest.mark.parametrize("params", [{}, {"pooling": "max", "normalize": True}])
def test_saved_folder_loads_in_sentence_transformers(encoder, texts, tmp_path, params):
    from sentence_transformers import SentenceTransformer

    fitted = copy.deepcopy(encoder).set_params(**params)
    fitted.save(tmp_path / "saved")
    plain = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert plain.max_seq_length == fitted.max_seq_length
    np.testing.assert_allclose(
        plain.encode(texts, batch_size=fitted.batch_size), fitted.transform(texts), atol=1e-6
    )


def _as_pickled_by_skcse_01(encoder: SimCSEEncoder) -> dict:
    """The state skcse 0.1 pickled: a transformers config, torch.save'd weights, the tokenizer."""
    import io

    import torch

    state = encoder.__getstate__()
    del state["_model_files"]
    transformer = encoder.model_[0]
    weights = io.BytesIO()
    torch.save(transformer.auto_model.state_dict(), weights)
    state["_model_state"] = {"config": transformer.config, "weights": weights.getvalue()}
    state["tokenizer_"] = transformer.tokenizer
    return state


def test_pickles_of_skcse_01_load_or_fail_clearly(encoder, texts):
    state = _as_pickled_by_skcse_01(encoder)
    loaded = SimCSEEncoder.__new__(SimCSEEncoder)
    loaded.__setstate__(state)
    assert not hasattr(loaded, "tokenizer_")
    np.testing.assert_array_equal(loaded.transform(texts), encoder.transform(texts))
    del state["tokenizer_"]
    with pytest.raises(ValueError, match="lacks its model's config, weights or tokenizer"):
        SimCSEEncoder.__new__(SimCSEEncoder).__setstate__(state)
