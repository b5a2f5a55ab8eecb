"""names.txt: obtain it, verify it by checksum, and read it into a clean list of words.

Introduced in 01_data. `make setup` runs `python -m helpers.names`, which puts a verified copy at the
top of the repository: from the file named by MAKEMORE_NAMES when that is set, else by downloading it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import unicodedata
import urllib.request
from pathlib import Path

from .config import ROOT
from .errors import DataError

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
NAMES_PATH = ROOT / "names.txt"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _show(path: str | os.PathLike) -> str:
    # name a file relative to the repository when it is inside it: no machine paths in messages
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def fetch_names(dest: str | os.PathLike = NAMES_PATH, source: str | None = None,
                url: str = NAMES_URL, sha256: str = NAMES_SHA256) -> Path:
    """Put a verified names.txt at `dest` and return its path.

    `source` (default: the environment variable MAKEMORE_NAMES) is a local file to copy; without one
    the file is downloaded from `url`. A good file already at `dest` is kept as it is. The new file is
    written next to `dest` and moved into place only once its checksum matches, so a failed copy or
    download leaves no partial file and never replaces a good one.
    """
    dest = Path(dest)
    if dest.exists() and sha256_file(dest) == sha256:
        return dest
    source = source if source is not None else os.environ.get("MAKEMORE_NAMES") or None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if source:
                if not Path(source).is_file():
                    raise DataError(f"MAKEMORE_NAMES points to {source!r}, which is not a file. "
                                    f"Set it to a copy of names.txt, or unset it to download the file.")
                with open(source, "rb") as f:
                    shutil.copyfileobj(f, out)
                origin = f"copied from {source}"
            else:
                try:
                    with urllib.request.urlopen(url, timeout=60) as r:
                        shutil.copyfileobj(r, out)
                except OSError as e:
                    raise DataError(f"Could not download names.txt from {url} ({e}). Check your network, or "
                                    f"download it by hand and set MAKEMORE_NAMES=/path/to/names.txt.") from e
                origin = f"downloaded from {url}"
        got = sha256_file(tmp)
        if got != sha256:
            raise DataError(f"names.txt {origin} has SHA-256 {got}, expected {sha256}: it is not the makemore "
                            f"data set (or it was cut short). Get the original file and try again.")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def load_words(path: str | os.PathLike = NAMES_PATH) -> list[str]:
    """Read a word list, one word a line, into lower-case words over 'a'..'z'.

    Normalised, documented: a UTF-8 byte-order mark, Windows line endings, blank lines and surrounding
    spaces are dropped; upper case becomes lower case. Anything else outside 'a'..'z' (digits, accents,
    spaces or '.' inside a word) is an error that names the line and the character.
    """
    path = Path(path)
    if not path.is_file():
        hint = "run `make setup` to fetch and verify it" if path == NAMES_PATH else "check the path"
        raise DataError(f"Word list {_show(path)} not found: {hint}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # note: -sig drops a byte-order mark if there is one
    except UnicodeDecodeError as e:
        raise DataError(f"{_show(path)} is not UTF-8 text (byte {e.start}): save it as UTF-8.") from e
    words = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        word = line.strip().lower()
        if not word:
            continue
        for ch in word:
            if ch not in ALPHABET:
                name = unicodedata.name(ch, "unnamed character")
                raise DataError(f"{_show(path)} line {lineno}: {line.strip()!r} has {ch!r} ({name}); "
                                f"words may only use the letters a-z. Remove or replace it.")
        words.append(word)
    if not words:
        raise DataError(f"{_show(path)} holds no words: put one word per line.")
    return words


def main(argv: list[str] | None = None) -> int:
    """`python -m helpers.names [DEST]`: what `make setup` runs."""
    argv = sys.argv[1:] if argv is None else argv
    dest = Path(argv[0]) if argv else NAMES_PATH
    try:
        fetch_names(dest)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{_show(dest)}: SHA-256 verified ({NAMES_SHA256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
