"""Generate the exercise notebooks in exercises/ from the lessons in notebooks/: `make exercises`.

The lessons are the single source of the text, helpers.exercises.EXERCISES of the exercises. Cells are
found by their tags and changed whole, never by editing their prose (docs/exercises.md):

  solution        an exercise's answer -> a blank tagged `exercise`: `# YOUR CODE HERE` and `dname = ...` for each
                  gradient in the order the lesson computes them (exercise 4: the `def` line and NotImplementedError)
  check           the lesson's comparison (`cmp(...)` lines, or a call of the function) -> the exercise's check
  needs-solution  a cell that uses the answer -> run only `if ex.solved("<id>")`
  derivation      a one-go exercise's derivation -> moved after its check, folded (<details>): the solution sketch
  fallback        trains with `backward=backward` -> only once exercise 4 passes; the cells after it that use its
                  `run` wait for it, and saving it (`save_run`) is for the learner to ask: lessons 04-06 read the newest

Every other cell is copied. Outputs are cleared; an introduction, the checks' set-up and a progress table
are added. Nothing depends on time: regenerating gives the same bytes.

  python tools/make_exercises.py           write exercises/; one you worked on is only overwritten with --force
  python tools/make_exercises.py --check   exit 1 if what the generator owns in exercises/ is out of date
"""

from __future__ import annotations

import argparse
import ast
import copy
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

from helpers.exercises import EXERCISES, Exercise

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb")


def target(name: str) -> str:
    """The exercise notebook's file name: the lesson's, number first, told apart by its end (a tab shows both)."""
    return name.removesuffix(".ipynb") + "_exercise.ipynb"


MARKER = "# YOUR CODE HERE"
# where the checks are set up: after which lesson cell, with what (lesson 02's need the map of exercise 1)
SETUP = {"02": ("map", 'Exercises("02", graph, Xb, Yb)'), "03": ("cell-01", 'Exercises("03")')}
GRADS = {"d" + g for e in EXERCISES.values() for g in e.grads}  # every gradient an exercise asks for


class GeneratorError(Exception):
    """The lesson can't be turned into an exercise notebook as it is (the message says which cell and why)."""


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def slots(solution: str, ex: Exercise) -> list[tuple[str, str]]:
    """The blank's lines, each with the solution's lines it stands for, in the lesson's order. A gradient that is
    assigned and then added to (`+=`: a tensor used twice) gets a second, commented-out slot."""
    out: list[tuple[str, list[str]]] = []
    lines, seen = solution.splitlines(), set()
    body = ast.parse(solution).body
    twice = {n.target.id for n in body if isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add)}
    for node in body:
        src = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        name = target.id if isinstance(target, ast.Name) and target.id[1:] in ex.grads else None
        via = sorted({n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and n.id in GRADS} - {name})
        if name and name not in seen:
            seen.add(name)
            note = f"  # {name[1:]} is used twice: first its gradient through {', '.join(via)}" if name in twice else ""
            out.append((f"{name} = ...{note}", [src]))
        elif name and isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            out.append(
                (f"# {name} += ...  # then the one through {', '.join(via)}: remove the first # and fill it in", [src])
            )
        elif out:
            out[-1][1].append(src)  # e.g. `dlogprobs[range(n), Yb] = ...` or `dlogits /= n`: part of the slot above
        else:
            raise GeneratorError(f"exercise {ex.id}: the solution starts with `{src}`, which assigns no gradient")
    missing = [g for g in ex.grads if "d" + g not in seen]
    if missing:
        raise GeneratorError(f"exercise {ex.id}: the solution cell never assigns d{', d'.join(missing)}")
    return [(line, "\n".join(srcs)) for line, srcs in out]


def blank(ex: Exercise, solution: str) -> str:
    head = f"{MARKER}: exercise {ex.id}, {ex.title}."
    if ex.kind == "function":
        ret = ", ".join(f'"{g}": d{g}' for g in ex.grads)
        return (
            f"def backward(params, cache):\n    {head} No autograd: compute every gradient by hand,\n"
            f"    # and finish with\n    # return {{{ret}}}\n"
            f'    raise NotImplementedError("exercise {ex.id}: write backward(params, cache)")'
        )
    if ex.kind == "loop":
        setup = [line for line in solution.splitlines() if line and not line[0].isspace() and " = " in line]
        return "\n".join(
            [
                head[:-1] + ": 1,000 steps of the lecture's loop.",
                "# Each step: draw a batch with `g` (torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g)),",
                "# forward(params, Xb, Yb), grads = backward(params, cache), p.data += -lr * grads[k] for every",
                "# parameter (a list of grads: zip it with params.values()), lr 0.1 then 0.01 from step 100,000,",
                "# and lossi.append(loss.log10().item()); no autograd.",
                *setup,
            ]
        )
    head += "\n# Replace each `...` with your gradient (it has the shape of the tensor it belongs to), top to bottom:"
    return "\n".join(
        [head, "# each line can use the ones above it. Then run the check cell below."]
        + [s for s, _ in slots(solution, ex)]
    )


def check(ex: Exercise, src: str, where: str) -> str:
    """The exercise's check, in place of the lesson's comparison (which must compare what the catalogue lists)."""
    calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    if ex.kind == "function":
        if not any(c.func.id == "backward" for c in calls):
            raise GeneratorError(f"{where}: the check cell does not call backward(...)")
        return "_ = ex.check_backward(backward, params, cache)"
    names = [c.args[0].value for c in calls if c.func.id == "cmp"]
    if names != list(ex.grads):
        raise GeneratorError(
            f"{where}: the check cell compares {names}, but EXERCISES[{ex.id!r}] lists {list(ex.grads)}"
        )
    # your d<name> variables, read by the check itself: a cell above that stopped halfway leaves some undefined
    mine = textwrap.wrap("checks " + ", ".join(f"d{g}" for g in ex.grads), 86, initial_indent="# ")
    mine = [mine[0], *("# " + line for line in mine[1:])]
    return "\n".join([*mine, f'_ = ex.check("{ex.id}")'])


def wrap(src: str, condition: str, why: str, otherwise: str) -> str:
    """`src` run only `if condition` (a comment says why), else a line that says why not."""
    body = "\n".join("    " + line if line else line for line in src.splitlines())
    return f"if {condition}:  # {why}\n{body}\nelse:\n    print({otherwise!r})"


def guard(src: str, ex: Exercise) -> str:
    why = f"this cell uses your answer to exercise {ex.id}"
    return wrap(src, f'ex.solved("{ex.id}")', why, f"skipped: it runs once your answer to exercise {ex.id} passes")


def fallback(src: str, where: str) -> str:
    """The full run: with your backward, once it passes exercise 4's check. Until then none: minutes of training with
    helpers' backward would teach nothing, and lessons 04-06 have the run you saved in lesson 03."""
    found = [k for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call) for k in n.keywords if k.arg == "backward"]
    if len(found) != 1:
        raise GeneratorError(f"{where}: a `fallback` cell passes backward=... to one call")
    skipped = "skipped: the full run waits for your backward to pass exercise 4"
    return "run = None\n" + wrap(src, 'ex.solved("4")', "the full run, with your backward", skipped)


def after_run(src: str) -> str:
    """A cell after the full run that uses it: it waits for the run, and saves it only if you ask (lessons 04-06 read
    the newest saved run, which is the one you trained in lesson 03 until you do)."""
    if "save_run(" not in src:
        return wrap(src, "run is not None", "the full run, once exercise 4 passes", NO_RUN)
    ask = "# lessons 04-06 read the newest saved run: SAVE = True makes this one it (the runs saved before stay)\n"
    return ask + "SAVE = False\n" + wrap(src, "run is not None and SAVE", "only if you ask", NOT_SAVED)


def uses_answers(src: str, answers: set[str]) -> list[str]:
    """The learner's names that an untagged cell reads without defining them (it would need `needs-solution`)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    made = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted((read - made) & answers)


def build(src: Path) -> nbformat.NotebookNode:
    """The exercise notebook for the lesson at `src`."""
    nb, lesson = copy.deepcopy(nbformat.read(src, as_version=4)), src.name[:2]
    todo = iter(e for e in EXERCISES.values() if e.lesson == lesson)
    current, answers, sketches, cells, ran = None, set(), [], [], False
    for cell in nb.cells:
        where, t = f"{src.name}, cell {cell.get('id')}", tags(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        after = []
        if "solution" in t:
            current = next(todo, None)
            if current is None:
                raise GeneratorError(f"{where}: more `solution` cells than lesson {lesson} has exercises")
            cell.source, cell.metadata["tags"] = blank(current, cell.source), ["exercise"]
            if current.kind == "loop":
                after = [nbformat.v4.new_code_cell("_ = ex.check_loop(params, lossi, cfg)", id=f"{cell.id}-check")]
                after[0].metadata["tags"] = ["check"]
            answers |= {"backward"} if current.kind == "function" else {"d" + g for g in current.grads}
        elif "derivation" in t:  # folded: JupyterLab keeps <details> closed through Run All and Save
            cell.source = f"{SKETCH}\n\n{cell.source}\n\n</details>"
            sketches.append(cell)
            continue
        elif t and current is None:
            raise GeneratorError(f"{where}: tagged {t} before any `solution` cell")
        elif "check" in t:
            cell.source, after, sketches = check(current, cell.source, where), sketches, []
        elif "needs-solution" in t:
            cell.source = guard(cell.source, current)
        elif "fallback" in t:
            cell.source, ran = fallback(cell.source, where), True
        elif ran and cell.cell_type == "code" and uses_answers(cell.source, {"run"}):
            cell.source = after_run(cell.source)
        elif cell.cell_type == "code" and uses_answers(cell.source, answers):
            raise GeneratorError(
                f"{where}: uses {uses_answers(cell.source, answers)}, the learner's: tag it `needs-solution`"
            )
        if cell.get("id") == SETUP[lesson][0]:
            after.append(nbformat.v4.new_code_cell(SETUP_CODE.format(SETUP[lesson][1]), id="exercise-setup"))
        cells += [cell, *after]
    if next(todo, None) is not None or sketches:
        raise GeneratorError(f"{src.name}: an exercise without its `solution` cell, or a `derivation` without a check")
    intro = nbformat.v4.new_markdown_cell(INTRO.format(name=src.name), id="exercise-intro")
    progress = nbformat.v4.new_code_cell(
        "ex.progress()  # which gradients pass their checks so far", id="exercise-progress"
    )
    nb.cells = [intro, *cells, progress]
    nb.metadata.pop("widgets", None)
    return nb


NO_RUN = "skipped: it uses the full run, which waits for exercise 4"
NOT_SAVED = "not saved (SAVE = True saves it): lessons 04-06 keep the one before"
SKETCH = "<details>\n<summary><b>Solution sketch</b> (the lesson's derivation)</summary>"
SETUP_CODE = "from helpers.exercises import Exercises\n\nex = {}  # the checks of this notebook, and your progress"
INTRO = """> **Exercise version** of `notebooks/{name}`, generated from it by `make exercises`.
>
> Fill in every cell marked `# YOUR CODE HERE` and run the check cell below it. A check says whether each gradient
> is *exactly right*, *approximately right* (floating-point rounding) or *not attempted yet*, and otherwise what is
> wrong — the shape, or which values, with a hint pointing at the step — without showing the answer. Where the lesson
> derives a formula, the derivation waits after the check, folded: click *Solution sketch* to open it. A
> cell that needs an exercise you have not solved yet is skipped, so with your cells untouched or working, *Run All*
> gets to the end, where a table shows your progress.
>
> When a cell of yours raises an error, Jupyter stops *Run All* there. Fix it (or put the `...` back) and run all
> again, or run the cells below it one by one.
>
> Stuck? The lesson `notebooks/{name}` has the solution. More in `docs/exercises.md`."""


def render(src: Path) -> str:
    """The exercise notebook's text, formatted by `ruff format` as the lint wants it (an indented or generated line
    may be longer than the lesson's). No cache: make check and make grade, which call this, write nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / src.name
        nbformat.write(build(src), path)
        # the lessons' settings (notebooks/ruff.toml: 88 columns)
        ruff = [sys.executable, "-m", "ruff", "format", "-q", "--no-cache"]
        subprocess.run([*ruff, "--config", ROOT / "notebooks" / "ruff.toml", path], check=True)
        return path.read_text(encoding="utf-8")


def owned(nb) -> list[tuple]:
    """What the generator owns in an exercise notebook: every cell it makes, with its source, except the blanks'
    (which are the learner's to fill); outputs, metadata and cells of the learner's own don't count."""
    return [(c.get("id"), c.cell_type, tags(c), None if "exercise" in tags(c) else c.source) for c in nb.cells]


def stale(text: str, dest: Path) -> str | None:
    """Why `dest` is not what `text` generates, in what the generator owns; None if it is."""
    if not dest.exists():
        return "missing"
    fresh = owned(nbformat.reads(text, as_version=4))
    ids = {c[0] for c in fresh}
    mine = [c for c in owned(nbformat.read(dest, as_version=4)) if c[0] in ids]
    diff = next((new[0] for new, old in zip(fresh, mine, strict=False) if new != old), None)
    return None if fresh == mine else f"cell {diff or 'list'} differs from what the lessons generate"


def worked_on(dest: Path, text: str) -> bool:
    """Whether `dest` holds someone's work: outputs, or a blank filled in."""
    new = {c.get("id"): c.source for c in nbformat.reads(text, as_version=4).cells}
    return any(
        c.get("outputs") or ("exercise" in tags(c) and c.source != new.get(c.get("id"), c.source))
        for c in nbformat.read(dest, as_version=4).cells
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate exercises/ from the lessons' tagged cells.")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if exercises/ is out of date")
    ap.add_argument("--force", action="store_true", help="overwrite exercise notebooks even if worked on")
    ap.add_argument("--out", type=Path, default=ROOT / "exercises", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    status = 0
    for name in SOURCES:
        try:
            text = render(ROOT / "notebooks" / name)
        except GeneratorError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        dest = args.out / target(name)
        why = stale(text, dest)
        if args.check or (why is None and not args.force):
            print(f"exercises/{dest.name}: {why or 'up to date'}")
            status = max(status, int(bool(why)))
        elif dest.exists() and not args.force and worked_on(dest, text):
            print(f"exercises/{dest.name}: {why}, but it holds your work: save it elsewhere, then rerun with --force")
            status = 2
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8", newline="\n")
            print(f"exercises/{dest.name}: written")
    return status


if __name__ == "__main__":
    sys.exit(main())
