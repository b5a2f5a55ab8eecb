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


def fetch_names(dest=None, source: str | None = None, url: str = NAMES_URL, sha256: str = NAMES_SHA256) -> Path:
    """Put a verified names.txt at `dest` (home()/names.txt) and return its path.

    `source` is a local file to copy: by default the one $MAKEMORE_NAMES names, else the repository's own
    names.txt when it is the right one (make test's folders take a copy of it); with neither, the file is
    downloaded from `url`. A good file already at `dest` is kept as it is. The new file is checked before
    anything is written, so a failed copy or download leaves no partial file and never replaces a good one.
    Any other file at `dest` (your own word list?) is moved aside to names.txt.<its SHA-256>.bak, and this says so.
    """
    dest = Path(dest or home() / "names.txt")
    if dest.is_dir():
        raise DataError(f"{show_path(dest)} is a folder: move it away and try again.")
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    repo = ROOT / "names.txt"
    good = dest != repo and repo.is_file() and sha256_file(repo) == sha256
    source = source or os.environ.get("MAKEMORE_NAMES") or (str(repo) if good else None)
    try:
        if source:
            data = Path(source).read_bytes()
        else:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = b"".join(iter(lambda: r.read(1 << 16), b""))  # note: in chunks, as a slow network delivers
    except (OSError, ValueError, http.client.HTTPException) as e:  # note: IncompleteRead is not an OSError
        where = f"read {source} (MAKEMORE_NAMES?)" if source else f"download names.txt from {url}"
        fix = "check the path or your network, or download the file by hand and set MAKEMORE_NAMES=/path/to/names.txt"
        raise DataError(f"Could not {where} ({type(e).__name__}: {e}). Nothing was written: {fix}.") from None
    if (got := hashlib.sha256(data).hexdigest()) != sha256:
        origin = f"copied from {show_path(source)}" if source else f"downloaded from {url}"
        raise DataError(
            f"names.txt {origin} has SHA-256 {got}, expected {sha256}: it is not the makemore data set (or it was cut "
            f"short). Nothing was written to {show_path(dest)}; point MAKEMORE_NAMES to the original, or unset it."
        )
    if dest.exists():  # note: a backup of the same name has the same words: nothing is lost
        backup = dest.with_name(f"{dest.name}.{sha256_file(dest)[:12]}.bak")
        os.replace(dest, backup)
        print(f"{show_path(dest)} was not the makemore data set: it is kept as {show_path(backup)}")
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
