"""Lessons are stored as JupyterLab writes them back (tools/lab_format.py): opening and saving one leaves git clean."""

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
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lab_format.py"), "--check", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout


def test_consecutive_streams_merge_and_whole_floats_become_integers():
    nb = nbformat.v4.new_notebook()
    out = [
        nbformat.v4.new_output("stream", name="stdout", text="step 0\n"),
        nbformat.v4.new_output("stream", name="stdout", text="step 1\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    nb.cells.append(nbformat.v4.new_code_cell("print()", outputs=out))
    nb.metadata["widgets"] = {"state": {"m": {"state": {"max": 200000.0, "value": 0.5, "min": 0.0}}}}
    nb = lab_format(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "step 0\nstep 1\n"),
        ("stderr", "warning\n"),
        ("stdout", "done\n"),
    ]
    state = nb.metadata["widgets"]["state"]["m"]["state"]
    assert json.dumps(state, sort_keys=True) == '{"max": 200000, "min": 0, "value": 0.5}'


def test_a_saved_training_cell_shows_the_finished_progress_bar():
    # a saved notebook keeps the text a widget had when it was shown; train() shows its bar's final text
    import nbclient

    code = """from helpers import Config, init_params, make_generator, train
from helpers.dataset import build_dataset
cfg = Config(n_embd=2, n_hidden=8, batch_size=4)
X, Y = build_dataset(["emma", "olivia", "ava"] * 10, cfg.block_size)
g = make_generator(cfg)
_ = train(init_params(cfg, g), X, Y, cfg, g, steps=2000, log_every=0)"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    bars = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert len(bars) == 1 and "application/vnd.jupyter.widget-view+json" in bars[0].data
    assert "100%" in bars[0].data["text/plain"] and "2000/2000" in bars[0].data["text/plain"]
