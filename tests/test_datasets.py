"""Tests of skcse.datasets: the shared reviews, malformed files, the reader, a faked download."""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from conftest import REVIEWS, reviews_path
from skcse._io import EncodingError, read_table
from skcse.datasets import (
    AMAZON_REVIEWS_FILENAME,
    AMAZON_REVIEWS_URL,
    DownloadError,
    get_data_home,
    load_amazon_reviews,
)

# Read at import, before the autouse fixture below clears SKCSE_DATA, so that it can still override.
REAL = reviews_path() or REVIEWS
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"shared reviews not found at {REAL}")

HEADER = "Title,Text,Cat1,Cat2,Cat3"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The loader reads these; a developer's own settings must not leak into the tests.
    monkeypatch.delenv("SKCSE_DATA", raising=False)
    monkeypatch.delenv("SKCSE_DATA_HOME", raising=False)


def synthetic_csv(counts: dict[str, int] | None = None) -> str:
    """A reviews-shaped CSV with made-up texts: ``counts`` rows per Cat1 class."""
    counts = counts or {"food": 30, "toys": 20, "pets": 10}
    lines = [HEADER]
    for cat, n in counts.items():
        for i in range(n):
            lines.append(f"title {i},synthetic {cat} review {i},{cat},{cat} {i % 2},{cat} {i % 3}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, content: str, name: str = "reviews.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


# --- the shared reviews ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_frame() -> pd.DataFrame:
    return pd.read_csv(REAL)


@pytest.mark.integration
@needs_real
def test_real_level1_has_six_classes(real_frame):
    bunch = load_amazon_reviews(REAL)
    assert isinstance(bunch, Bunch)
    assert len(bunch.target_names) == 6
    assert bunch.target_names == sorted(bunch.target_names)
    n = len(real_frame)
    assert len(bunch.data) == len(bunch.target) == len(bunch.frame) == n
    assert all(type(t) is str for t in bunch.data)
    assert isinstance(bunch.target, np.ndarray)
    assert all(type(c) is str for c in bunch.target)
    assert list(bunch.frame.index) == list(range(n))
    assert "Title" in bunch.frame.columns
    assert bunch.data == bunch.frame["Text"].tolist()
    assert bunch.path == REAL
    assert str(REAL) in bunch.DESCR and "Cat1" in bunch.DESCR


@pytest.mark.integration
@needs_real
@pytest.mark.parametrize("level", [2, 3])
def test_real_deeper_levels(real_frame, level):
    bunch = load_amazon_reviews(REAL, level=level)
    column = f"Cat{level}"
    assert bunch.target_names == sorted(real_frame[column].unique())
    assert len(bunch.target_names) > 6
    np.testing.assert_array_equal(bunch.target, real_frame[column].to_numpy(dtype=object))


@pytest.mark.integration
@needs_real
def test_real_n_samples_stratified_and_reproducible():
    n = 600
    full = load_amazon_reviews(REAL)
    first = load_amazon_reviews(REAL, n_samples=n, random_state=0)
    again = load_amazon_reviews(REAL, n_samples=n, random_state=0)
    other = load_amazon_reviews(REAL, n_samples=n, random_state=1)

    assert len(first.data) == n and len(first.frame) == n
    assert first.data == again.data
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert set(first.data) != set(other.data)

    expected = pd.Series(full.target).value_counts(normalize=True)
    got = pd.Series(first.target).value_counts(normalize=True).reindex(expected.index)
    # Stratified: each class is off by less than one row; a plain random draw of 600 is
    # typically off by several.
    assert (got - expected).abs().max() <= 1 / n


@pytest.mark.integration
@needs_real
def test_real_level3_subsample_pools_rare_classes_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        texts, y = load_amazon_reviews(
            REAL, level=3, n_samples=1000, random_state=0, return_X_y=True
        )
    assert len(texts) == len(y) == 1000


@pytest.mark.integration
@needs_real
def test_real_return_X_y_matches_bunch():
    texts, y = load_amazon_reviews(REAL, n_samples=300, random_state=3, return_X_y=True)
    bunch = load_amazon_reviews(REAL, n_samples=300, random_state=3)
    assert isinstance(texts, list) and isinstance(y, np.ndarray)
    assert texts == bunch.data
    np.testing.assert_array_equal(y, bunch.target)


@pytest.mark.integration
@needs_real
def test_real_found_through_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SKCSE_DATA", str(REAL))
    bunch = load_amazon_reviews(data_home=tmp_path, download=False)
    assert bunch.path == REAL
    assert len(bunch.target_names) == 6
    assert os.listdir(tmp_path) == []


# --- lookup order -----------------------------------------------------------------------


def test_explicit_path_missing_is_not_downloaded(monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", _must_not_download)
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_amazon_reviews(missing, data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_explicit_path_that_is_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="data_home"):
        load_amazon_reviews(tmp_path)


def test_env_set_but_missing_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", _must_not_download)
    monkeypatch.setenv("SKCSE_DATA", str(tmp_path / "gone.csv"))
    with pytest.raises(FileNotFoundError, match="SKCSE_DATA.*gone.csv"):
        load_amazon_reviews(data_home=tmp_path)


def test_path_beats_env_and_env_beats_data_home(monkeypatch, tmp_path):
    explicit = write(tmp_path, synthetic_csv({"a": 3, "b": 3}), "explicit.csv")
    from_env = write(tmp_path, synthetic_csv({"c": 3, "d": 3}), "env.csv")
    home = tmp_path / "home"
    home.mkdir()
    write(home, synthetic_csv({"e": 3, "f": 3}), AMAZON_REVIEWS_FILENAME)

    assert load_amazon_reviews(data_home=home).target_names == ["e", "f"]
    monkeypatch.setenv("SKCSE_DATA", str(from_env))
    assert load_amazon_reviews(data_home=home).target_names == ["c", "d"]
    assert load_amazon_reviews(explicit, data_home=home).target_names == ["a", "b"]


def test_missing_without_download_gives_guidance(monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", _must_not_download)
    with pytest.raises(FileNotFoundError, match="download=False") as info:
        load_amazon_reviews(data_home=tmp_path, download=False)
    assert "SKCSE_DATA" in str(info.value) and "path=" in str(info.value)


def test_get_data_home(monkeypatch, tmp_path):
    assert get_data_home(tmp_path / "a") == tmp_path / "a"
    monkeypatch.setenv("SKCSE_DATA_HOME", str(tmp_path / "b"))
    assert get_data_home() == tmp_path / "b"
    assert get_data_home(tmp_path / "a") == tmp_path / "a"
    monkeypatch.delenv("SKCSE_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "skcse_data"
    assert not (tmp_path / "skcse_data").exists()


# --- malformed files --------------------------------------------------------------------


def test_missing_column_is_named(tmp_path):
    path = write(tmp_path, "Text,Cat1\nsome text,a\nmore text,b\n")
    assert load_amazon_reviews(path).target_names == ["a", "b"]
    with pytest.raises(ValueError, match=r"no column 'Cat2'.*\['Text', 'Cat1'\]"):
        load_amazon_reviews(path, level=2)
    no_text = write(tmp_path, "Title,Cat1\nx,a\n", "no_text.csv")
    with pytest.raises(ValueError, match=r"no column 'Text'.*\['Title', 'Cat1'\]"):
        load_amazon_reviews(no_text)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_amazon_reviews(write(tmp_path, ""))


def test_header_only_file(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        load_amazon_reviews(write(tmp_path, HEADER + "\n"))


@pytest.mark.parametrize("level", [0, 4, -1, "1", 1.0, True, None])
def test_wrong_level(tmp_path, level):
    path = write(tmp_path, synthetic_csv())
    with pytest.raises(ValueError, match="level"):
        load_amazon_reviews(path, level=level)


def test_rows_with_missing_text_or_target_are_dropped(tmp_path):
    content = "\n".join(
        [
            HEADER,
            "t,first text,a,x,p",
            "t,,a,x,p",  # no text
            "t,second text,,x,p",  # no Cat1
            't,"   ",b,x,p',  # blank text
            ",NA,b,,",  # a text that reads "NA" is a text; no Title, Cat2 or Cat3
            "t,third text,b,x,p",
        ]
    )
    path = write(tmp_path, content + "\n")
    bunch = load_amazon_reviews(path)
    assert bunch.data == ["first text", "NA", "third text"]
    assert list(bunch.target) == ["a", "b", "b"]
    assert all(type(t) is str for t in bunch.data)
    assert "dropped for an empty Text or Cat1: 3" in bunch.DESCR
    # Only the chosen level counts: at level 2 the row without Cat1 stays, the one without
    # Cat2 goes.
    texts, _ = load_amazon_reviews(path, level=2, return_X_y=True)
    assert texts == ["first text", "second text", "third text"]


def test_no_usable_rows(tmp_path):
    path = write(tmp_path, HEADER + "\nt,,a,x,p\nt,text,,x,p\n")
    with pytest.raises(ValueError, match="none with both"):
        load_amazon_reviews(path)


def test_blank_line_is_a_row_and_counted(tmp_path):
    # A blank line is an empty row: dropped like the others, and counted, never skipped unseen.
    path = write(tmp_path, "\n".join([HEADER, "t,first,a,x,p", "", "t,second,b,x,p"]) + "\n")
    bunch = load_amazon_reviews(path)
    assert bunch.data == ["first", "second"]
    assert "Rows read: 3; dropped for an empty Text or Cat1: 1" in bunch.DESCR


def test_any_suffix_is_read_as_csv(tmp_path):
    # SKCSE_DATA or path= may name a file that does not end in .csv.
    path = write(tmp_path, synthetic_csv(), "reviews.txt")
    assert len(load_amazon_reviews(path).data) == 60


# --- the reader shared with the command line ---------------------------------------------

NA_LIKE = ["NA", "null", "None", "nan", "#N/A", "N/A", "NaN", "-nan", "<NA>"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_table_keeps_every_row_of_a_table(tmp_path, suffix):
    sep = "\t" if suffix == ".tsv" else ","
    rows = [f"{text}{sep}{i}" for i, text in enumerate(NA_LIKE)]
    content = "\ufeffText" + sep + "n\n" + "\n".join(rows[:2] + [""] + rows[2:]) + "\n"
    path = write(tmp_path, content, "t" + suffix)
    frame = read_table(path, ["Text", "n"])
    texts = frame["Text"].tolist()
    # NA-looking texts are texts; the blank line is a row of missing values, in its place.
    assert texts[:2] + texts[3:] == NA_LIKE and pd.isna(texts[2])
    assert list(frame.columns) == ["Text", "n"] and list(frame.index) == list(range(10))


def test_read_table_lines(tmp_path):
    lines = NA_LIKE + ["", "  ", "a\u2028b"]
    path = tmp_path / "t.txt"
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    # The final newline ends the last line; a blank line is a row; only "\n" splits.
    assert read_table(path)["text"].tolist() == lines
    assert read_table(path, ["Body"]).columns.tolist() == ["Body"]
    path.write_text("one\ntwo")
    assert read_table(path)["text"].tolist() == ["one", "two"]
    with pytest.raises(ValueError, match="no columns"):
        read_table(path, ["Text", "Cat1"])


@pytest.mark.parametrize("name", ["t.csv", "t.txt"])
def test_read_table_names_the_line_it_cannot_decode(tmp_path, name):
    path = tmp_path / name
    path.write_bytes("Text\nplain\nsecond\ncafé\n".encode("latin-1"))
    with pytest.raises(EncodingError, match=rf"{name} is not utf-8 text: byte 0xe9 on line 4"):
        read_table(path)
    assert issubclass(EncodingError, ValueError)
    assert read_table(path, encoding="latin-1").iloc[-1, 0] == "café"


@pytest.mark.parametrize("n_samples", [61, 1000])
def test_n_samples_too_large(tmp_path, n_samples):
    path = write(tmp_path, synthetic_csv())  # 60 rows
    with pytest.raises(ValueError, match=f"n_samples={n_samples}.*60 usable rows"):
        load_amazon_reviews(path, n_samples=n_samples)


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, "10", True])
def test_n_samples_not_a_positive_int(tmp_path, n_samples):
    path = write(tmp_path, synthetic_csv())
    with pytest.raises(ValueError, match="n_samples"):
        load_amazon_reviews(path, n_samples=n_samples)


def test_n_samples_equal_to_rows_returns_all(tmp_path):
    path = write(tmp_path, synthetic_csv())
    assert load_amazon_reviews(path, n_samples=60, random_state=0).data == (
        load_amazon_reviews(path).data
    )


def test_n_samples_keeps_file_order_and_class_shares(tmp_path):
    path = write(tmp_path, synthetic_csv({"food": 300, "toys": 200, "pets": 100}))
    bunch = load_amazon_reviews(path, n_samples=60, random_state=0)
    assert pd.Series(bunch.target).value_counts().to_dict() == {"food": 30, "toys": 20, "pets": 10}
    full = load_amazon_reviews(path).data
    positions = [full.index(t) for t in bunch.data]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "counts", [{"big": 40, "mid": 20, "one": 1, "two": 1}, {"big": 40, "mid": 20, "one": 1}]
)
def test_singleton_classes_are_pooled(tmp_path, counts):
    path = write(tmp_path, synthetic_csv(counts))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        texts, y = load_amazon_reviews(path, n_samples=31, random_state=0, return_X_y=True)
    assert len(texts) == 31
    assert list(y).count("big") == 20 and list(y).count("mid") == 10


def test_unstratifiable_sample_falls_back_with_warning(tmp_path):
    path = write(tmp_path, synthetic_csv())  # 3 classes
    with pytest.warns(UserWarning, match="plain random sample"):
        first = load_amazon_reviews(path, n_samples=2, random_state=0)
    with pytest.warns(UserWarning):
        again = load_amazon_reviews(path, n_samples=2, random_state=0)
    assert len(first.data) == 2 and first.data == again.data


# --- download ---------------------------------------------------------------------------


def _must_not_download(*args, **kwargs):
    raise AssertionError("the loader tried to download")


class FakeResponse:
    """What urlopen returns: read() in small pieces, optionally failing after some reads."""

    def __init__(self, payload: bytes, *, fail_after: int | None = None, exc=None, length=None):
        self._body = io.BytesIO(payload)
        self.headers = {"Content-Length": str(len(payload) if length is None else length)}
        self.fail_after = fail_after
        self.exc = exc
        self.reads = 0
        self.on_read = None

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.on_read is not None:
            self.on_read()
        if self.fail_after is not None and self.reads > self.fail_after:
            raise self.exc
        return self._body.read(min(n, 50))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def serve(monkeypatch, response: FakeResponse | Exception) -> list[str]:
    """Make urllib.request.urlopen answer with ``response``; return the requested URLs."""
    urls: list[str] = []

    def fake_urlopen(request, timeout=None):
        urls.append(request.full_url if hasattr(request, "full_url") else request)
        if isinstance(response, Exception):
            raise response
        return response

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return urls


def test_download_writes_atomically_then_loads(monkeypatch, tmp_path):
    home = tmp_path / "new" / "home"
    target = home / AMAZON_REVIEWS_FILENAME
    response = FakeResponse(synthetic_csv().encode())
    seen: list[list[str]] = []
    response.on_read = lambda: seen.append(sorted(os.listdir(home)))
    urls = serve(monkeypatch, response)

    bunch = load_amazon_reviews(data_home=home, n_samples=30, random_state=0)

    assert urls == [AMAZON_REVIEWS_URL]
    assert bunch.path == target and target.read_text() == synthetic_csv()
    assert len(bunch.data) == 30 and bunch.target_names == ["food", "pets", "toys"]
    assert os.listdir(home) == [AMAZON_REVIEWS_FILENAME]
    # While streaming, only a temporary file in the same folder existed.
    assert len(seen) > 2
    for names in seen:
        assert len(names) == 1 and names[0].startswith(".") and names[0].endswith(".part")

    # Once there, the file is reused.
    monkeypatch.setattr(urllib.request, "urlopen", _must_not_download)
    assert load_amazon_reviews(data_home=home).data == load_amazon_reviews(target).data


def test_download_uses_data_home_env(monkeypatch, tmp_path):
    serve(monkeypatch, FakeResponse(synthetic_csv().encode()))
    monkeypatch.setenv("SKCSE_DATA_HOME", str(tmp_path))
    assert load_amazon_reviews().path == tmp_path / AMAZON_REVIEWS_FILENAME


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(ConnectionResetError("reset by peer"), DownloadError), (RuntimeError("bug"), RuntimeError)],
)
def test_failure_mid_stream_leaves_nothing(monkeypatch, tmp_path, exc, expected):
    serve(monkeypatch, FakeResponse(synthetic_csv().encode(), fail_after=3, exc=exc))
    with pytest.raises(expected):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_truncated_download_leaves_nothing(monkeypatch, tmp_path):
    payload = synthetic_csv().encode()
    serve(monkeypatch, FakeResponse(payload, length=len(payload) + 100))
    with pytest.raises(DownloadError, match="incomplete"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_html_page_is_not_kept(monkeypatch, tmp_path):
    serve(monkeypatch, FakeResponse(b"<!DOCTYPE html><html>Sign in to the Wi-Fi</html>\n"))
    with pytest.raises(DownloadError, match="not the reviews CSV"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_offline_error_says_how_to_use_a_local_copy(monkeypatch, tmp_path):
    serve(monkeypatch, urllib.error.URLError("[Errno -3] Temporary failure in name resolution"))
    with pytest.raises(DownloadError, match="failed") as info:
        load_amazon_reviews(data_home=tmp_path)
    message = str(info.value)
    assert "SKCSE_DATA" in message and "path=" in message and "name resolution" in message
    assert isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert not (tmp_path / AMAZON_REVIEWS_FILENAME).exists()
    assert [p for p in tmp_path.iterdir() if p.suffix == ".part"] == []


@pytest.mark.parametrize(("progress", "shown"), [(True, True), (False, False), (None, False)])
def test_progress_flag(monkeypatch, tmp_path, capsys, progress, shown):
    serve(monkeypatch, FakeResponse(synthetic_csv().encode()))
    load_amazon_reviews(data_home=tmp_path, progress=progress)
    # Under pytest stderr is no terminal, so None (auto) stays quiet.
    assert (AMAZON_REVIEWS_FILENAME in capsys.readouterr().err) is shown
