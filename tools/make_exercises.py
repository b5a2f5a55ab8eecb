"""Generate the exercise notebooks in exercises/ from the lessons in notebooks/: `make exercises`.

The lessons (with their solutions and outputs) are the single source of the text; the catalogue
helpers.exercises.EXERCISES is the single source of the exercises. An exercise notebook is the lesson with
each solution replaced by a blank and each comparison by checks, both written from the catalogue. The cells
are found by their tags (cell metadata "tags"):

  solution        an exercise's answer; in order, 02 has 1a, 1b, 1c, 1d, 2, 3 and 03 has 4. Becomes a blank
                  tagged `exercise`: under `# YOUR CODE HERE`, `dname = ...` for each gradient the catalogue
                  lists, or for exercise 4 the function's `def` line, the `return` it must end with and
                  `raise NotImplementedError(...)`.
  check           compares the answer with autograd. Its set-up (every line up to the last `loss.backward()`)
                  is kept; the comparisons after it become `check("<id>", "dx", ns=globals())` for each
                  gradient, or `grads, checks = check_backward("4", backward, params, cache)`. They must compare
                  what the catalogue lists (`cmp("x", dx, x)` for each, or a call of the function).
  needs-solution  uses the answer of the nearest exercise above it. Wrapped in `if solved("<id>"): ... else:
                  print("skipped: ...")`, so an untouched exercise notebook runs top to bottom.

Every other cell is copied as it is. Outputs and execution counts are cleared, the widget state is dropped,
an introduction cell (id exercise-intro) is added at the top and a progress cell (id exercise-progress, tag
progress) at the end. Cell ids are kept, nothing depends on time: regenerating gives the same bytes. As a
safety net, an untagged code cell after an exercise that reads a name the learner defines is an error
(tag it `needs-solution`).

Usage (from the repository's top folder, with the project's environment):
  python tools/make_exercises.py           write exercises/; a notebook that was worked on (outputs, or a
                                           filled-in blank) is not overwritten unless --force is given
  python tools/make_exercises.py --check   only compare: exit 1 if exercises/ is not what the lessons give
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import re
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat

from helpers.exercises import EXERCISES, Exercise

ROOT = Path(__file__).resolve().parent.parent


LESSONS = ROOT / "notebooks"
OUT = ROOT / "exercises"
SOURCES = ("02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb")
MARKER = "# YOUR CODE HERE"


class GeneratorError(Exception):
    """The lesson can't be turned into an exercise notebook as it is (the message says which cell and why)."""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _blank(ex: Exercise) -> str:
    """The blank of an exercise, from the catalogue."""
    if ex.function:
        ret = ", ".join(f'"{g[1:]}": {g}' for g in ex.grads)
        return "\n".join(
            [
                f"def {ex.function}(params, cache):",
                f"    {MARKER}: exercise {ex.id}, {ex.title}. No autograd: compute every gradient by hand,",
                "    # and finish with",
                f"    # return {{{ret}}}",
                f'    raise NotImplementedError("exercise {ex.id}: write {ex.function}(params, cache)")',
            ]
        )
    head = [
        f"{MARKER}: exercise {ex.id}, {ex.title}.",
        "# Replace each `...` with your gradient (it has the shape of the tensor it belongs to), then run the",
        "# check cell below.",
    ]
    return "\n".join(head + [f"{g} = ..." for g in ex.grads])


def _checks(src: str, ex: Exercise, where: str) -> str:
    """The check cell: the lesson's set-up, then the catalogue's checks in place of the lesson's comparisons."""
    lines = src.splitlines()
    keep = max((i + 1 for i, line in enumerate(lines) if "loss.backward()" in line), default=0)
    compared = "\n".join(lines[keep:])
    if ex.function:
        if f"{ex.function}(" not in compared:
            raise GeneratorError(f"{where}: the check cell does not call {ex.function}(...) after loss.backward()")
        body = [f'grads, checks = check_backward("{ex.id}", {ex.function}, params, cache)']
    else:
        names = re.findall(r"cmp\(\"\w+\", (\w+), \w+\)", compared)
        if names != list(ex.grads):
            raise GeneratorError(
                f"{where}: the check cell compares {names}, but helpers.exercises.EXERCISES"
                f"[{ex.id!r}] lists {list(ex.grads)}: keep the two in step"
            )
        body = [f'check("{ex.id}", "{g}", ns=globals())' for g in ex.grads]
        body[-1] = "_ = " + body[-1]
    imports = f"from helpers.exercises import {'check_backward' if ex.function else 'check'}"
    return "\n".join([imports, "", *lines[:keep], *body])


# --------------------------------------------------------------------------------------------------
# needs-solution -> guarded


def _guard(src: str, ex: Exercise, where: str) -> str:
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.STRING and tok.start[0] != tok.end[0]:
            raise GeneratorError(f"{where}: a multi-line string would change when the cell is indented")
    why = f"this cell uses your answer to exercise {ex.id}"
    return "\n".join(
        [
            "from helpers.exercises import solved",
            "",
            f'if solved("{ex.id}"):  # {why}',
            textwrap.indent(src, "    "),
            "else:",
            f'    print("skipped: {why}; it runs once exercise {ex.id} passes its checks")',
        ]
    )


def _lint(src: str, learner: set[str], where: str) -> None:
    """An untagged cell must not read a name that only the learner's answer defines."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    stored |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    stored |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stored |= {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    used = sorted((loaded - stored) & learner)
    if used:
        raise GeneratorError(
            f"{where}: uses {', '.join(used)}, which the learner's answer defines: tag the cell "
            f"`needs-solution` so it is skipped until the exercise is solved"
        )


# --------------------------------------------------------------------------------------------------
# the notebook


def build(src: Path) -> nbformat.NotebookNode:
    """The exercise notebook for the lesson at `src`."""
    nb = copy.deepcopy(nbformat.read(src, as_version=4))
    lesson = src.name[:2]
    exercises = [e for e in EXERCISES.values() if e.lesson == lesson]
    solutions = [c for c in nb.cells if "solution" in _tags(c)]
    if len(solutions) != len(exercises):
        raise GeneratorError(
            f"{src.name}: {len(solutions)} cells tagged `solution`, but lesson {lesson} has "
            f"{len(exercises)} exercises ({', '.join(e.id for e in exercises)})"
        )
    current: Exercise | None = None
    learner: set[str] = set()
    todo = iter(exercises)
    for cell in nb.cells:
        tags = _tags(cell)
        where = f"{src.name}, cell {cell.get('id')}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if "exercise_source" in cell.metadata:  # the lesson says what this cell is in the exercise version
            cell.source = cell.metadata.pop("exercise_source")
        elif "solution" in tags:
            current = next(todo)
            cell.source = _blank(current)
            learner |= {current.function} if current.function else set(current.grads)
            cell.metadata["tags"] = ["exercise" if t == "solution" else t for t in tags]
        elif current is None and ({"check", "needs-solution"} & set(tags)):
            raise GeneratorError(f"{where}: tagged {tags} before any `solution` cell")
        elif "check" in tags:
            cell.source = _checks(cell.source, current, where)
            learner |= {"grads", "checks"} if current.function else set()
        elif "needs-solution" in tags:
            cell.source = _guard(cell.source, current, where)
        elif cell.cell_type == "code" and current is not None:
            _lint(cell.source, learner, where)
    ids = ", ".join(e.id for e in exercises)
    intro = nbformat.v4.new_markdown_cell(
        id="exercise-intro",
        source="\n".join(
            [
                f"> **Exercise version** of `notebooks/{src.name}` "
                f"(exercise{'s' if len(exercises) > 1 else ''} {ids}), "
                f"generated from it by `make exercises`.",
                ">",
                "> Fill in every cell marked `# YOUR CODE HERE` and run the check cell below it. "
                "A check says whether each gradient is *exactly right*, *approximately right* "
                "(floating-point rounding) or *not attempted yet*, "
                "and otherwise what is wrong — the shape, or which values, with a hint pointing at the step — without "
                "showing the answer. A cell that needs an exercise you have not solved yet is skipped, so *Run All* "
                "always gets to the end, where a table shows your progress.",
                ">",
                f"> Stuck? The lesson `notebooks/{src.name}` has the solution. More in `docs/exercises.md`.",
            ]
        ),
    )
    summary = nbformat.v4.new_code_cell(
        id="exercise-progress",
        metadata={"tags": ["progress"]},
        source="\n".join(
            [
                "from helpers.exercises import progress",
                "",
                f'progress("{lesson}")  # which gradients pass their checks so far',
            ]
        ),
    )
    nb.cells = [intro, *nb.cells, summary]
    nb.metadata.pop("widgets", None)  # the progress bars' saved state: an output, cleared with the others
    return nb


def render(src: Path) -> str:
    text = nbformat.writes(build(src))
    return text if text.endswith("\n") else text + "\n"


def _worked_on(dest: Path, fresh: str) -> str | None:
    """Why `dest` looks like someone's work (outputs, a filled-in blank), or None."""
    try:
        old = nbformat.read(dest, as_version=4)
    except Exception as e:  # unreadable: not ours to overwrite silently
        return f"it can't be read as a notebook ({e})"
    new = {c.get("id"): c for c in nbformat.reads(fresh, as_version=4).cells}
    for c in old.cells:
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None):
            return f"cell {c.get('id')} has outputs"
        if "exercise" in _tags(c) and c.get("id") in new and c.source != new[c.get("id")].source:
            return f"the blank in cell {c.get('id')} was filled in"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate exercises/ from the lessons' solution/check cells.")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if exercises/ is out of date")
    ap.add_argument("--force", action="store_true", help="overwrite exercise notebooks even if worked on")
    ap.add_argument("--lessons", type=Path, default=LESSONS, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=OUT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    def show(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(ROOT))
        except ValueError:
            return str(p)

    stale, refused = [], []
    for name in SOURCES:
        try:
            text = render(args.lessons / name)
        except GeneratorError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        dest = args.out / name
        current = dest.read_text(encoding="utf-8") if dest.exists() else None
        if current == text:
            print(f"{show(dest)}: up to date")
            continue
        if args.check:
            stale.append(dest)
            print(f"{show(dest)}: out of date", file=sys.stderr)
            continue
        why = _worked_on(dest, text) if current is not None and not args.force else None
        if why:
            refused.append(dest)
            print(
                f"{show(dest)}: not overwritten, {why} — save your work elsewhere, then rerun with --force "
                f"(make exercises FORCE=1)",
                file=sys.stderr,
            )
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"{show(dest)}: written")
    if stale:
        print("exercises/ is out of date: run `make exercises` and commit the result", file=sys.stderr)
        return 1
    return 2 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
