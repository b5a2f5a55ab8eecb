"""names.txt: obtain it, verify it by checksum, and read it into a clean list of words.

Introduced in 01_data. `make setup` runs `python -m helpers`, which puts a verified copy at the
top of the repository: from the file named by MAKEMORE_NAMES when that is set, else by downloading it.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import os
import shutil
import tempfile
import unicodedata
import urllib.request
from pathlib import Path

from .config import ROOT, show_path
from .errors import DataError

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
NAMES_PATH = ROOT / "names.txt"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_UPPER_TO_LOWER = str.maketrans(ALPHABET.upper(), ALPHABET)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_names(
    dest: str | os.PathLike = NAMES_PATH, source: str | None = None, url: str = NAMES_URL, sha256: str = NAMES_SHA256
) -> Path:
    """Put a verified names.txt at `dest` and return its path.

    `source` (default: the environment variable MAKEMORE_NAMES) is a local file to copy; without one
    the file is downloaded from `url`. A good file already at `dest` is kept as it is. The new file is
    written next to `dest` and moved into place only once its checksum matches, so a failed copy or
    download leaves no partial file and never replaces a good one. Any other file at `dest` (your own word
    list?) is never overwritten: it is moved aside to `names.txt.<its SHA-256>.bak` first, and this says so.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_file():
        raise DataError(f"{show_path(dest)} exists but is not a file (a folder?): move it away and try again.")
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    from_env = source is None
    source = source if source is not None else os.environ.get("MAKEMORE_NAMES") or None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if source:
                if not Path(source).is_file():
                    # note: a relative MAKEMORE_NAMES is read from the folder you run in, not the repository
                    what = (
                        f"MAKEMORE_NAMES is set to {str(source)!r}"
                        if from_env
                        else f"The source {show_path(source)!r} given to fetch_names"
                    )
                    raise DataError(
                        f"{what}, which is not a file. Point it to a copy of names.txt (a relative "
                        f"path counts from the folder you run in), or unset MAKEMORE_NAMES to "
                        f"download the file."
                    )
                try:
                    with open(source, "rb") as f:
                        shutil.copyfileobj(f, out)
                except OSError as e:
                    raise DataError(
                        f"Could not read {show_path(source)} ({e.strerror or type(e).__name__}): check "
                        f"that the file is readable, or unset MAKEMORE_NAMES to download it."
                    ) from None
                origin = f"copied from {show_path(source)}"
            else:
                try:
                    with urllib.request.urlopen(url, timeout=60) as r:
                        shutil.copyfileobj(r, out)
                except (OSError, ValueError, http.client.HTTPException) as e:
                    # note: a connection can also break mid-download (IncompleteRead is not an OSError)
                    raise DataError(
                        f"Could not download names.txt from {url} ({type(e).__name__}: {e}). Nothing "
                        f"was written. Check your network and run `make setup` again, or download "
                        f"the file by hand and set MAKEMORE_NAMES=/path/to/names.txt."
                    ) from e
                origin = f"downloaded from {url}"
        got = sha256_file(tmp)
        if got != sha256:
            fix = (
                "point MAKEMORE_NAMES to the original names.txt (or unset it to download the file)"
                if source
                else "run `make setup` again, or download the file by hand and set MAKEMORE_NAMES to it"
            )
            raise DataError(
                f"names.txt {origin} has SHA-256 {got}, expected {sha256}: it is not the makemore "
                f"data set (or it was cut short). Nothing was written to {show_path(dest)}; {fix}."
            )
        # note: mkstemp makes the file readable by its owner only; give it the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if dest.is_file():
            old = sha256_file(dest)
            backup = dest.with_name(f"{dest.name}.{old[:12]}.bak")
            if not backup.exists():  # note: a backup of the same name has the same words: nothing to lose
                os.replace(dest, backup)
            print(
                f"{show_path(dest)} was not the makemore data set (SHA-256 {old[:12]}...): it is kept as "
                f"{show_path(backup)}; to train on it, see the README's 'Your own names'."
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def load_words(path: str | os.PathLike = NAMES_PATH) -> list[str]:
    """Read a word list, one word a line, into lower-case words over 'a'..'z'.

    Normalised, documented: a UTF-8 byte-order mark, Windows (and old Mac) line endings, blank lines and
    surrounding spaces are dropped; upper case A-Z becomes lower case a-z. Anything else outside 'a'..'z'
    (digits, accents, spaces or '.' inside a word) is an error that names the line and the character.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise DataError(
                f"Word list {show_path(path)} is not a file (a folder?): pass the path of a text file "
                f"with one word per line."
            )
        hint = (
            "run `make setup` to fetch and verify it"
            if path.resolve() == NAMES_PATH.resolve()
            else "check the path (a relative path counts from the folder you run in)"
        )
        raise DataError(f"Word list {show_path(path)} not found: {hint}.")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(
            f"Could not read {show_path(path)} ({e.strerror or type(e).__name__}): check that it is readable."
        ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{show_path(path)} is UTF-16 text (Windows 'Unicode'): save it as UTF-8.")
    body = raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw  # note: a byte-order mark is dropped
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = body[: e.start].count(b"\n") + 1
        raise DataError(
            f"{show_path(path)} line {lineno}: byte 0x{body[e.start]:02x} is not UTF-8 text (it was "
            f"probably saved as Latin-1 or Windows-1252): save the file as UTF-8."
        ) from None
    # note: universal newlines, as Python's open() reads text; line numbers are those of an editor
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    words = []
    for lineno, line in enumerate(lines, start=1):
        word = line.strip().translate(_UPPER_TO_LOWER)  # note: only A-Z; 'É' stays 'É' and is reported
        if not word:
            continue
        for col, ch in enumerate(word, start=len(line) - len(line.lstrip()) + 1):
            if ch not in ALPHABET:
                name = unicodedata.name(ch, f"U+{ord(ch):04X}")
                raise DataError(
                    f"{show_path(path)} line {lineno}, character {col}: {line.strip()!r} has {ch!r} "
                    f"({name}); words may only use the letters a-z (upper case is lower-cased). "
                    f"Remove or replace it."
                )
        words.append(word)
    if not words:
        raise DataError(f"{show_path(path)} holds no words: put one word per line.")
    return words
