#!/usr/bin/env python3
"""Store executed notebooks in the form JupyterLab writes back, so that opening and saving one leaves git clean.

`make run` executes the lessons with nbconvert, then runs this on them. nbconvert keeps every flush of stdout
as its own output; JupyterLab's output area merges consecutive stream outputs of the same name into one. nbval
merges them too before comparing, so this changes nothing that `make test` compares. The series shows no
widgets (train's progress bar, tqdm's, is a plain text display), so a widget state left in the metadata is dropped.

    python tools/lab_format.py notebooks/*.ipynb [--check]   # --check: exit 1 if a file would change
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def merge_streams(outputs: list) -> list:
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if last is not None and out.get("output_type") == last.get("output_type") == "stream" and last.name == out.name:
            last["text"] = "".join(last["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def lab_format(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: list[str]) -> int:
    check, changed = "--check" in argv, []
    for path in (Path(a) for a in argv if a != "--check"):
        old = path.read_text(encoding="utf-8")
        new = nbformat.writes(lab_format(nbformat.reads(old, as_version=4))) + "\n"
        if new != old:
            changed.append(str(path))
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and changed:
        print("not in JupyterLab's form (run `make run`, or python tools/lab_format.py FILE):", *changed, sep="\n  ")
    return int(check and bool(changed))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
