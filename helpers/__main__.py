"""`python -m helpers [DEST]`: put a verified names.txt at the top of the repository (what `make setup` runs).

Copies the file named by MAKEMORE_NAMES when that is set, else downloads it; see helpers.names.fetch_names.
"""

import sys
from pathlib import Path

from .config import show_path
from .errors import DataError
from .names import NAMES_PATH, NAMES_SHA256, fetch_names


def main(argv: list[str]) -> int:
    dest = Path(argv[0]) if argv else NAMES_PATH
    try:
        fetch_names(dest)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{show_path(dest)}: SHA-256 verified ({NAMES_SHA256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
