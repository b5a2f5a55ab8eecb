#!/usr/bin/env python3
"""Store executed notebooks in the form JupyterLab writes back, so that opening and saving one leaves git clean.

`make run` executes the lessons with nbconvert, then runs this on them. Two things differ from what JupyterLab
saves for the same notebook:
* nbconvert keeps every flush of stdout as its own output; JupyterLab's output area merges consecutive
  stream outputs of the same name (stdout, stderr) into one;
* the widget state (the progress bar's) holds numbers as JSON floats (`200000.0`); JupyterLab writes the same
  numbers back from JavaScript, where a whole number is written as an integer (`200000`).
nbval merges the streams too before comparing, so this changes nothing that `make test` compares.

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
        if (
            last is not None
            and out.get("output_type") == "stream"
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] = "".join(last["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def js_numbers(value):
    """Whole-number floats as integers, as JSON.stringify writes them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [js_numbers(v) for v in value]
    return value


def lab_format(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    widgets = nb.metadata.get("widgets")
    if widgets:
        nb.metadata["widgets"] = nbformat.from_dict(js_numbers(widgets))
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for name in (a for a in argv if a != "--check"):
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = nbformat.writes(lab_format(nbformat.reads(old, as_version=4))) + "\n"
        if new != old:
            changed.append(name)
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and changed:
        print("not in JupyterLab's form (run `make run`, or python tools/lab_format.py FILE):", *changed, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
