"""Tests of skcse.datasets: the shared reviews, malformed files, the reader, the download."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import threading
import time
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.datasets
from sklearn.utils import Bunch

import skcse.datasets
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


@pytest.fixture
def no_download(monkeypatch):
    def must_not_download(*args, **kwargs):
        raise AssertionError("the loader tried to download")

    monkeypatch.setattr(sklearn.datasets, "fetch_file", must_not_download)


def test_explicit_path_missing_is_not_downloaded(no_download, tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_amazon_reviews(missing, data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_explicit_path_that_is_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="data_home"):
        load_amazon_reviews(tmp_path)


def test_env_set_but_missing_names_the_variable(no_download, monkeypatch, tmp_path):
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


def test_missing_without_download_gives_guidance(no_download, tmp_path):
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


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_table_refuses_a_row_longer_than_the_header(tmp_path, suffix):
    sep = "\t" if suffix == ".tsv" else ","
    # Empty fields after the last (a separator ending each row) are not data.
    trailing = write(
        tmp_path, f"Text{sep}Cat1\nfirst{sep}a{sep}\nsecond{sep}b{sep}\n", "t" + suffix
    )
    frame = read_table(trailing, ["Text", "Cat1"])
    assert frame.to_dict("list") == {"Text": ["first", "second"], "Cat1": ["a", "b"]}
    # An unquoted separator inside the first row's text: pandas would have cut the text
    # with only a warning (in a later row it stops: "Expected 2 fields").
    cut = write(tmp_path, f"Text{sep}Cat1\ngood{sep} would buy{sep}b\nfine{sep}a\n", "c" + suffix)
    with pytest.raises(ValueError, match="line 2 has 3 fields but the header has 2; quote"):
        read_table(cut, ["Text"])


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


class _Reviews(http.server.BaseHTTPRequestHandler):
    """Answers every GET with what the test set on its server."""

    def do_GET(self):
        server = self.server
        server.paths.append(self.path)
        if server.on_request is not None:
            server.on_request()
        self.send_response(server.status)
        # A Content-Length larger than the body: the connection ends early, a truncated file.
        self.send_header("Content-Length", str(len(server.body) + server.missing))
        self.end_headers()
        self.wfile.write(server.body)

    def log_message(self, *args):
        pass  # no request lines in the test output


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server that the loader downloads from, instead of zenodo.org."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Reviews)
    httpd.body, httpd.status, httpd.missing = synthetic_csv().encode(), 200, 0
    httpd.on_request, httpd.paths = None, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}/{AMAZON_REVIEWS_FILENAME}"
    monkeypatch.setattr(skcse.datasets, "AMAZON_REVIEWS_URL", url)
    monkeypatch.setattr(skcse.datasets, "_RETRY_DELAY", 0)
    monkeypatch.setattr(skcse.datasets, "_TIMEOUT", 10)  # bounds each test's socket waits
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_download_goes_through_a_hidden_folder_then_loads(server, tmp_path):
    home = tmp_path / "new" / "home"
    target = home / AMAZON_REVIEWS_FILENAME
    seen: list[list[str]] = []
    server.on_request = lambda: seen.append(sorted(os.listdir(home)))

    bunch = load_amazon_reviews(data_home=home, n_samples=30, random_state=0)

    assert server.paths == [f"/{AMAZON_REVIEWS_FILENAME}"]
    assert bunch.path == target and target.read_text() == synthetic_csv()
    assert len(bunch.data) == 30 and bunch.target_names == ["food", "pets", "toys"]
    assert os.listdir(home) == [AMAZON_REVIEWS_FILENAME]
    # While downloading, only a hidden staging folder existed, not the final name.
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith(".")

    # Once there, the file is reused.
    assert load_amazon_reviews(data_home=home).data == load_amazon_reviews(target).data
    assert len(server.paths) == 1


def test_download_uses_data_home_env(server, monkeypatch, tmp_path):
    monkeypatch.setenv("SKCSE_DATA_HOME", str(tmp_path))
    assert load_amazon_reviews().path == tmp_path / AMAZON_REVIEWS_FILENAME


def test_download_uses_sklearn_fetch_file_without_a_checksum(monkeypatch, tmp_path):
    calls = []

    def fake_fetch_file(url, folder, local_filename, sha256=None, **kwargs):
        calls.append((url, local_filename, sha256))
        path = Path(folder) / local_filename
        path.write_text(synthetic_csv())
        return path

    monkeypatch.setattr(sklearn.datasets, "fetch_file", fake_fetch_file)
    assert load_amazon_reviews(data_home=tmp_path).target_names == ["food", "pets", "toys"]
    assert calls == [(AMAZON_REVIEWS_URL, AMAZON_REVIEWS_FILENAME, None)]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(ConnectionResetError("reset by peer"), DownloadError), (RuntimeError("bug"), RuntimeError)],
)
def test_failure_mid_download_leaves_nothing(monkeypatch, tmp_path, exc, expected):
    def failing_fetch_file(url, folder, local_filename, **kwargs):
        (Path(folder) / f"{local_filename}.part_x").write_text(HEADER)
        raise exc

    monkeypatch.setattr(sklearn.datasets, "fetch_file", failing_fetch_file)
    with pytest.raises(expected):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    server.missing = 100
    with pytest.raises(DownloadError, match="incomplete"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []
    assert len(server.paths) == 1 + skcse.datasets._RETRIES


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # The body ends inside a quoted text, with a length that says it is complete.
        pytest.param(lambda csv: csv + 'title,"a review cut sh', "EOF", id="cut"),
        pytest.param(lambda csv: HEADER + "\n", "no rows", id="header-only"),
    ],
)
def test_a_damaged_download_is_not_kept(server, tmp_path, body, reason):
    server.body = body(synthetic_csv()).encode()
    with pytest.raises(DownloadError, match=f"damaged or incomplete: .*{reason}"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_downloaded_file_follows_the_umask_and_a_later_damage_says_what_to_do(server, tmp_path):
    old = os.umask(0o022)
    try:
        load_amazon_reviews(data_home=tmp_path)
    finally:
        os.umask(old)
    cached = tmp_path / AMAZON_REVIEWS_FILENAME
    assert stat.S_IMODE(cached.stat().st_mode) == 0o644  # fetch_file's own file is 0o600
    cached.write_text(HEADER + "\n")
    with pytest.raises(ValueError, match=f"Delete {cached} to download it again"):
        load_amazon_reviews(data_home=tmp_path)


def test_a_data_home_that_is_a_file_or_holds_a_folder_is_named(server, tmp_path):
    (tmp_path / "file").write_text("notes")
    with pytest.raises(NotADirectoryError, match="data home .*file is a file, not a folder"):
        load_amazon_reviews(data_home=tmp_path / "file")
    (tmp_path / "home" / AMAZON_REVIEWS_FILENAME).mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="is a folder, where the downloaded reviews"):
        load_amazon_reviews(data_home=tmp_path / "home")
    assert server.paths == []


def test_stalled_server_times_out_and_leaves_the_default_timeout(server, monkeypatch, tmp_path):
    monkeypatch.setattr(skcse.datasets, "_TIMEOUT", 0.2)
    monkeypatch.setattr(skcse.datasets, "_RETRIES", 0)
    server.on_request = lambda: time.sleep(1.0)  # no answer within the timeout
    before = socket.getdefaulttimeout()
    with pytest.raises(DownloadError, match="timed out"):
        load_amazon_reviews(data_home=tmp_path)
    assert socket.getdefaulttimeout() == before
    assert os.listdir(tmp_path) == []


def test_http_error_is_a_download_error(server, tmp_path):
    server.status, server.body = 404, b"not found"
    with pytest.raises(DownloadError, match="404"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_html_page_is_not_kept(server, tmp_path):
    server.body = b"<!DOCTYPE html><html>Sign in to the Wi-Fi</html>\n"
    with pytest.raises(DownloadError, match="not the reviews CSV"):
        load_amazon_reviews(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_offline_error_says_how_to_use_a_local_copy(monkeypatch, tmp_path):
    # A port that nobody listens on: the connection is refused, as when offline.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{AMAZON_REVIEWS_FILENAME}"
    monkeypatch.setattr(skcse.datasets, "AMAZON_REVIEWS_URL", url)
    monkeypatch.setattr(skcse.datasets, "_RETRY_DELAY", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the retries do not warn
        with pytest.raises(DownloadError, match="failed") as info:
            load_amazon_reviews(data_home=tmp_path)
    message = str(info.value)
    assert "SKCSE_DATA" in message and "path=" in message and "refused" in message
    assert isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("progress", "shown"), [(True, True), (False, False), (None, False)])
def test_progress_flag(server, tmp_path, capsys, progress, shown):
    load_amazon_reviews(data_home=tmp_path, progress=progress)
    # Under pytest stderr is no terminal, so None (auto) stays quiet.
    assert (AMAZON_REVIEWS_FILENAME in capsys.readouterr().err) is shown
