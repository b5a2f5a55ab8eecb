"""Lessons are stored as JupyterLab writes them back (tools/lab_format.py), so opening and saving one leaves git clean."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
# tools/ is a folder of scripts, not a package: load the script itself
_spec = importlib.util.spec_from_file_location("lab_format", ROOT / "tools" / "lab_format.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
lab_format = _module.lab_format

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))


def test_committed_notebooks_are_in_jupyterlab_form():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "lab_format.py"), "--check", *map(str, NOTEBOOKS)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_consecutive_streams_merge_and_whole_floats_become_integers():
    nb = nbformat.v4.new_notebook()
    out = [nbformat.v4.new_output("stream", name="stdout", text="step 0\n"),
           nbformat.v4.new_output("stream", name="stdout", text="step 1\n"),
           nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
           nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    nb.cells.append(nbformat.v4.new_code_cell("print()", outputs=out))
    nb.metadata["widgets"] = {"state": {"m": {"state": {"max": 200000.0, "value": 0.5, "min": 0.0}}}}
    nb = lab_format(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "step 0\nstep 1\n"), ("stderr", "warning\n"), ("stdout", "done\n")]
    state = nb.metadata["widgets"]["state"]["m"]["state"]
    assert json.dumps(state, sort_keys=True) == '{"max": 200000, "min": 0, "value": 0.5}'
