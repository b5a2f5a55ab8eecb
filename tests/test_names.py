"""names.txt and word lists: obtained, verified, read; every bad input named with its line and character."""

from __future__ import annotations

import errno
import http.client
import io
import urllib.error
import urllib.request

import pytest
from support import WORDS, fetch_mod, fetch_names, files_in, names_mod, sha, write

from helpers import DataError, build_dataset, load_words, split_words
from helpers.config import ROOT


def test_data_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as e:
        load_words(tmp_path / "nope.txt")
    assert "nope.txt" in str(e.value) and "check the path" in str(e.value)


def test_data_missing_names_txt_says_make_setup_and_shows_a_relative_path(monkeypatch):
    # the repository's own names.txt, moved out of the way without touching it: point NAMES_PATH elsewhere
    missing = ROOT / "no-such-names.txt"
    monkeypatch.setattr(names_mod, "NAMES_PATH", missing)
    with pytest.raises(DataError) as e:
        load_words(missing)
    msg = str(e.value)
    assert "no-such-names.txt not found" in msg and "make setup" in msg
    assert str(ROOT) not in msg  # no machine paths: the file is named relative to the repository


def test_data_path_is_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        load_words(tmp_path)


def test_data_checksum_mismatch_writes_nothing(tmp_path):
    source = write(tmp_path / "other.txt", "emma\nolivia\n")
    dest = tmp_path / "data" / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest, source=str(source))
    msg = str(e.value)
    assert "SHA-256" in msg and names_mod.NAMES_SHA256 in msg and "not the makemore data set" in msg
    assert "original names.txt" in msg
    assert files_in(tmp_path) == ["other.txt"]  # no names.txt, no partial file


def test_data_checksum_mismatch_keeps_the_existing_file(tmp_path):
    good = b"emma\nolivia\nava\n"
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")  # present, but not the expected file
    source = write(tmp_path / "bad.txt", b"emma\nolivia\n")  # cut short: one name missing
    with pytest.raises(DataError, match="cut short"):
        fetch_names(dest, source=str(source), sha256=sha(good))
    assert dest.read_bytes() == b"an older names.txt\n"
    assert files_in(tmp_path) == ["bad.txt", "names.txt"]


def test_data_good_existing_file_is_kept_as_is(tmp_path):
    good = b"emma\nolivia\nava\n"
    dest = write(tmp_path / "names.txt", good)
    before = dest.stat().st_mtime_ns
    # neither the (missing) source nor the network is consulted: the verified file is kept
    assert fetch_names(dest, source=str(tmp_path / "missing.txt"), sha256=sha(good)) == dest
    assert dest.read_bytes() == good and dest.stat().st_mtime_ns == before


def test_data_download_failure(tmp_path, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt")
    msg = str(e.value)
    assert "Could not download" in msg and "network" in msg and "MAKEMORE_NAMES" in msg
    assert dest.read_bytes() == b"an older names.txt\n" and files_in(tmp_path) == ["names.txt"]


@pytest.mark.parametrize(
    "broken",
    [
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        http.client.IncompleteRead(b"", 1000),
        TimeoutError("timed out"),
    ],
)
def test_data_download_breaks_mid_stream(tmp_path, monkeypatch, broken):
    class Response(io.BytesIO):  # hands out some bytes, then the connection breaks
        def read(self, n=-1):
            if self.tell() > 0:
                raise broken
            return super().read(5)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: Response(b"emma\nolivia\n"))
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt", sha256=sha(b"emma\nolivia\n"))
    assert "Could not download" in str(e.value) and type(broken).__name__ in str(e.value)
    assert dest.read_bytes() == b"an older names.txt\n" and files_in(tmp_path) == ["names.txt"]


def test_data_download_cut_short_fails_the_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: io.BytesIO(b"emma\noli"))
    dest = tmp_path / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt", sha256=sha(b"emma\nolivia\n"))
    assert "downloaded from" in str(e.value) and "cut short" in str(e.value) and "make setup" in str(e.value)
    assert files_in(tmp_path) == []


def test_data_download_of_a_verified_file_lands_in_place(tmp_path):
    # the good path of the download, without the network: a file:// URL
    data = "\n".join(WORDS).encode()
    source = write(tmp_path / "remote.txt", data)
    dest = tmp_path / "data" / "names.txt"
    assert fetch_names(dest, url=source.as_uri(), sha256=sha(data)) == dest
    assert dest.read_bytes() == data and files_in(dest.parent) == ["names.txt"]


def test_data_makemore_names_points_to_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MAKEMORE_NAMES", "../shared/no-such-names.txt")
    dest = tmp_path / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest)
    msg = str(e.value)
    assert "MAKEMORE_NAMES" in msg and "../shared/no-such-names.txt" in msg and "not a file" in msg
    assert "unset MAKEMORE_NAMES" in msg and "relative path" in msg
    assert files_in(tmp_path) == []


def test_data_make_setup_reports_the_error_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAKEMORE_NAMES", str(tmp_path / "missing.txt"))
    assert fetch_mod.main([str(tmp_path / "names.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "MAKEMORE_NAMES" in err
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("text", ["", "\n\n  \n\t\n"], ids=["empty", "only-blank-lines"])
def test_data_empty_file(tmp_path, text):
    with pytest.raises(DataError, match="holds no words: put one word per line"):
        load_words(write(tmp_path / "words.txt", text))


def test_data_blank_lines_are_dropped(tmp_path):
    assert load_words(write(tmp_path / "w.txt", "\nemma\n\n   \nolivia\n\n")) == ["emma", "olivia"]


def test_data_windows_line_endings(tmp_path):
    assert load_words(write(tmp_path / "w.txt", "emma\r\nolivia\r\n\r\nava")) == ["emma", "olivia", "ava"]
    assert load_words(write(tmp_path / "mac.txt", "emma\rolivia\r")) == ["emma", "olivia"]  # old Mac files


def test_data_utf8_byte_order_mark(tmp_path):
    assert load_words(write(tmp_path / "w.txt", b"\xef\xbb\xbfemma\nolivia\n")) == ["emma", "olivia"]


def test_data_upper_case_is_lower_cased(tmp_path):
    # documented normalisation: A-Z become a-z, surrounding spaces go
    assert load_words(write(tmp_path / "w.txt", "Emma\n  OLIVIA \nAvA\n")) == ["emma", "olivia", "ava"]


@pytest.mark.parametrize(
    "line, char, name",
    [
        ("emma2", "2", "DIGIT TWO"),
        ("zoé", "é", "LATIN SMALL LETTER E WITH ACUTE"),
        ("ZOÉ", "É", "LATIN CAPITAL LETTER E WITH ACUTE"),
        ("mary ann", " ", "SPACE"),
        ("st.john", ".", "FULL STOP"),
        ("anne-marie", "-", "HYPHEN-MINUS"),
        ("ann\tmarie", "\t", "U+0009"),
        ("ann\x85a", "\x85", "U+0085"),  # a line break to str.splitlines, but not to an editor
    ],
    ids=["digit", "accent", "upper-case-accent", "space", "dot", "hyphen", "tab", "next-line-control"],
)
def test_data_characters_outside_the_vocabulary(tmp_path, line, char, name):
    path = write(tmp_path / "w.txt", f"emma\nolivia\n\n{line}\nava\n")
    with pytest.raises(DataError) as e:
        load_words(path)
    msg = str(e.value)
    assert "line 4" in msg and repr(char) in msg and name in msg
    assert "only use the letters a-z" in msg and "Remove or replace it" in msg


def test_data_non_utf8_bytes(tmp_path):
    path = write(tmp_path / "w.txt", b"emma\nolivia\nzo" + "é\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        load_words(path)
    msg = str(e.value)
    assert "line 3" in msg and "0xe9" in msg and "not UTF-8" in msg and "save the file as UTF-8" in msg


def test_data_utf16_file(tmp_path):
    with pytest.raises(DataError, match="UTF-16.*save it as UTF-8"):
        load_words(write(tmp_path / "w.txt", "emma\nolivia\n".encode("utf-16")))


def test_data_too_few_words_to_split(tmp_path):
    words = load_words(write(tmp_path / "w.txt", "\n".join(WORDS[:5])))
    with pytest.raises(DataError) as e:
        split_words(words)
    msg = str(e.value)
    assert "5 words are too few" in msg and "80/10/10" in msg and "at least 6 words" in msg
    # and 6 are enough, as the message says
    assert all(split_words(WORDS[:6]))


def test_data_split_words_given_a_path_not_words(tmp_path):
    with pytest.raises(DataError, match=r"list of words.*load_words"):
        split_words(str(tmp_path / "names.txt"))


def test_data_word_list_passed_directly_is_checked(tmp_path):
    # a word list that did not come through load_words: '.' is the end marker, never part of a word
    tr, dev, te = split_words(WORDS[:9] + ["st.john"])
    with pytest.raises(DataError) as e:
        for part in (tr, dev, te):
            build_dataset(part, 3)
    assert "'st.john'" in str(e.value) and "'.'" in str(e.value) and "load_words" in str(e.value)
