"""names.txt, pinned by its checksum, read into a clean list of words.

Introduced in 01_data. names.txt comes with the repository, byte for byte the file of karpathy/makemore;
lesson 01 and the tests check it against NAMES_SHA256.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

from .config import home, show_path
from .errors import DataError

NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_UPPER_TO_LOWER = str.maketrans(ALPHABET.upper(), ALPHABET)


def sha256_file(path: str | os.PathLike) -> str:
    """The checksum a data set is pinned by (names.txt is 228 kB: read at once)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_words(path: str | os.PathLike = "names.txt") -> list[str]:
    """Read a word list, one word a line, into lower-case words over 'a'..'z'. A relative path counts from the
    top of the repository (home()), as Config.names does, whatever folder the notebook runs in.

    Normalised, documented: a UTF-8 byte-order mark, Windows (and old Mac) line endings, blank lines and
    surrounding spaces are dropped; upper case A-Z becomes lower case a-z. Anything else outside 'a'..'z'
    (digits, accents, spaces or '.' inside a word) is an error that names the line and the character.
    """
    given, path = path, home() / path
    if not path.is_file():
        if path == home() / "names.txt":
            fix = "it comes with the repository: `git checkout names.txt` brings it back"
        else:
            relative = not Path(given).is_absolute()
            fix = "check the path" + (f" ({given} counts from the top of the repository, not the notebook)" * relative)
        raise DataError(f"Word list {show_path(path)} {'is a folder' if path.exists() else 'not found'}: {fix}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # note: -sig drops a byte-order mark
    except UnicodeDecodeError as e:
        where = f"line {raw[: e.start].count(10) + 1}: byte 0x{raw[e.start]:02x}"  # note: 10 is the byte of a newline
        raise DataError(f"{show_path(path)} {where} is not UTF-8 text (Latin-1?): save the file as UTF-8.") from None
    words = []
    # note: universal newlines, as Python's open() reads text; line numbers are those of an editor
    for lineno, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        word = line.strip().translate(_UPPER_TO_LOWER)  # note: only A-Z; 'É' stays 'É' and is reported
        for col, ch in enumerate(word, start=len(line) - len(line.lstrip()) + 1):
            if ch not in ALPHABET:
                what = f"{line.strip()!r} has {ch!r} ({unicodedata.name(ch, f'U+{ord(ch):04X}')})"
                fix = "words may only use the letters a-z (upper case is lower-cased): remove or replace it"
                raise DataError(f"{show_path(path)} line {lineno}, character {col}: {what}; {fix}.")
        words += [word] if word else []
    if not words:
        raise DataError(f"{show_path(path)} holds no words: put one word per line.")
    return words
