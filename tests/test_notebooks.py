"""The committed lessons: stored as JupyterLab writes them, reopened cleanly (no widget), readable (no machine
paths, no line too long for the page), portable yet strict (a wrong gradient still fails nbval); and one
source of pins for every way to install."""

import ast
import dataclasses
import json
import re
import subprocess
import sys
import tomllib

import nbclient
import nbformat
import pytest
from conftest import TINY, script
from packaging.requirements import Requirement
from packaging.version import Version

from helpers.config import ROOT

lab = script("lab_format")
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_lessons_are_stored_as_jupyterlab_saves_them(tmp_path):
    gen = script("make_exercises")  # the exercises as generated: the copies in exercises/ are the learner's to save
    for name in gen.SOURCES:
        (tmp_path / name).write_text(gen.render(ROOT / "notebooks" / name), encoding="utf-8")
    run = subprocess.run([sys.executable, ROOT / "tools/lab_format.py", "--check", *LESSONS, *tmp_path.glob("*.ipynb")])
    assert run.returncode == 0


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_stored_outputs_read_well_on_a_page(path):
    nb = nbformat.read(path, as_version=4)
    text = [
        o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        for o in c.get("outputs", [])
    ]
    assert not any(str(ROOT) in t or "/home/" in t or "/tmp/" in t for t in text)  # no machine paths
    assert all(len(line) <= 120 for t in text for line in t.splitlines()), "a line JupyterLab would break"
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(nb.dict()) and "widgets" not in nb.metadata


def test_the_progress_bar_is_saved_as_the_run_ended(words, tmp_path):
    """Issue #18: no widget (a saved notebook reopened said 'model not found'), and one bar per run: tqdm's, as text,
    in its final state, above the log (issue #24)."""
    code = f"from helpers import Config, train\n_ = train({dataclasses.replace(TINY, steps=2000)!r}, log_every=1000)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    bar, *log = lab.lab_format(nb).cells[0].outputs
    assert bar.output_type == "display_data" and list(bar.data) == ["text/plain"]
    assert re.fullmatch(r"training: 100%\|#{10}\| 2000/2000 \[[\d:]+<00:00, +[\d.]+step/s\]", bar.data["text/plain"])
    assert [(o.output_type, o.name) for o in log] == [("stream", "stdout")] and log[0].text.count("/   2000: ") == 2


def test_a_wrong_gradient_still_fails_strict_nbval(names, tmp_path):
    """The sanitize rules hide rounding digits, never a wrong gradient: dhpreact off by 0.01% fails, on its row."""
    nb = json.loads((ROOT / "notebooks/02_gradient_verification.ipynb").read_text())
    [cell] = [c for c in nb["cells"] if "dhpreact = (1.0 - h**2) * dh" in "".join(c["source"])]
    cell["source"] = "".join(cell["source"]).replace("* dh\n", "* dh * 1.0001\n")
    (tmp_path / "02.ipynb").write_text(json.dumps(nb))
    sanitize = ["--nbval-sanitize-with", str(ROOT / "notebooks/sanitize.cfg")]
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-vv", "--nbval", "--nbval-current-env", *sanitize]
    run = subprocess.run([*cmd, "02.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and re.search(r"hpreact[\s\S]{0,40}\| exact: False \| approximate: False", run.stdout)


def test_one_source_of_pins():
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pins["torch"] == "2.13.0" and {"jupyterlab", "nbval", "pytest", "nbclient", "matplotlib"} <= set(pins)
    for dep in map(Requirement, project["dependencies"]):  # ranges, so a learner's own environment keeps its torch
        assert dep.specifier and "==" not in str(dep.specifier) and Version(pins[dep.name]) in dep.specifier
    env = (ROOT / "environment.yml").read_text()
    assert "- -r requirements.txt" in env and "- -e ." in env and "==" not in env


def test_the_package_declares_what_it_imports():
    """pyproject.toml's dependencies are what helpers imports beyond the standard library, so `pip install .` into a
    plain environment trains; IPython only inside a notebook, where it is loaded already (issue #24)."""
    imported = set()
    for node in (n for path in (ROOT / "helpers").rglob("*.py") for n in ast.walk(ast.parse(path.read_text()))):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:  # note: level 0, not `from .x import`
            imported.add(node.module.split(".")[0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(d).name for d in project["dependencies"]}
    assert imported - set(sys.stdlib_module_names) - {"IPython"} == declared
