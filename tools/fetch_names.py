"""`python tools/fetch_names.py [DEST]`: put a verified names.txt in home() (`make setup`, `make test`).

home() is the top of the repository, or $NINJA_HOME (`make test` sets it to a folder of its own). Copies the
file named by MAKEMORE_NAMES when that is set, else the repository's own names.txt when it is the right one,
else downloads it. Set-up time only: no lesson fetches anything, and tests never reach the network.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from pathlib import Path

from helpers.config import ROOT, home, show_path, write_file
from helpers.errors import DataError
from helpers.names import NAMES_SHA256, sha256_file

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"


def fetch_names(
    dest: str | os.PathLike | None = None, source: str | None = None, url: str = NAMES_URL, sha256: str = NAMES_SHA256
) -> Path:
    """Put a verified names.txt at `dest` and return its path.

    `source` (default: the environment variable MAKEMORE_NAMES) is a local file to copy; without one
    the file is downloaded from `url`. A good file already at `dest` is kept as it is. The new file is
    checked before anything is written, so a failed copy or download leaves no partial file and never
    replaces a good one. Any other file at `dest` (your own word list?) is never overwritten: it is moved
    aside to `names.txt.<its SHA-256>.bak` first, and this says so.
    """
    dest = Path(dest or home() / "names.txt")
    if dest.exists() and not dest.is_file():
        raise DataError(f"{show_path(dest)} exists but is not a file (a folder?): move it away and try again.")
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    from_env = source is None and bool(os.environ.get("MAKEMORE_NAMES"))
    mine = ROOT / "names.txt"  # note: make test's own folder takes a copy of the repository's, when it is good
    if source is None:
        source = os.environ.get("MAKEMORE_NAMES") or (
            str(mine) if mine.is_file() and sha256_file(mine) == sha256 else None
        )
    if source and not Path(source).is_file():
        # note: a relative MAKEMORE_NAMES is read from the folder you run in, not the repository
        what = (
            f"MAKEMORE_NAMES is set to {source!r}"
            if from_env
            else f"The source {show_path(source)!r} given to fetch_names"
        )
        raise DataError(
            f"{what}, which is not a file. Point it to a copy of names.txt (a relative path counts from the "
            f"folder you run in), or unset MAKEMORE_NAMES to download the file."
        )
    if source:
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise DataError(
                f"Could not read {show_path(source)} ({e.strerror or type(e).__name__}): check "
                f"that the file is readable, or unset MAKEMORE_NAMES to download it."
            ) from None
        origin = f"copied from {show_path(source)}"
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = b"".join(iter(lambda: r.read(1 << 16), b""))  # note: chunks, as a slow network delivers
        except (OSError, ValueError, http.client.HTTPException) as e:
            # note: a connection can also break mid-download (IncompleteRead is not an OSError)
            raise DataError(
                f"Could not download names.txt from {url} ({type(e).__name__}: {e}). Nothing "
                f"was written. Check your network and run `make setup` again, or download "
                f"the file by hand and set MAKEMORE_NAMES=/path/to/names.txt."
            ) from e
        origin = f"downloaded from {url}"
    got = hashlib.sha256(data).hexdigest()
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
    if dest.is_file():
        old = sha256_file(dest)
        backup = dest.with_name(f"{dest.name}.{old[:12]}.bak")
        if not backup.exists():  # note: a backup of the same name has the same words: nothing to lose
            os.replace(dest, backup)
        print(
            f"{show_path(dest)} was not the makemore data set (SHA-256 {old[:12]}...): it is kept as "
            f"{show_path(backup)}; to train on it, see the README's 'Your own names'."
        )
    write_file(dest, data)
    return dest


def main(argv: list[str]) -> int:
    dest = Path(argv[0]) if argv else home() / "names.txt"
    try:
        fetch_names(dest)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{show_path(dest)}: SHA-256 verified ({NAMES_SHA256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
