"""`python -m helpers`: put a verified names.txt at the top of the repository (what `make setup` runs).

Copies the file named by MAKEMORE_NAMES when that is set, else downloads it; see helpers.names.
"""

from .names import main

raise SystemExit(main())
