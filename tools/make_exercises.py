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
GRADS = {g for e in EXERCISES.values() for g in e.grads}  # every gradient name of the exercises


class GeneratorError(Exception):
    """The lesson can't be turned into an exercise notebook as it is (the message says which cell and why)."""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def slots(solution: str, ex: Exercise) -> list[tuple[str, str]]:
    """The blank's lines, each with the lesson's lines it stands for, in the lesson's order: every gradient is
    assigned before it is used, so the blank can be filled top to bottom. A gradient assigned and then
    increased (`+=`: a tensor used twice) gets a second, commented-out slot for its second contribution."""
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    lines = solution.splitlines()
    for node in ast.parse(solution).body:
        src = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) else target
        name = target.id if isinstance(target, ast.Name) and target.id in ex.grads else None
        via = [n.id[1:] for n in ast.walk(node.value) if isinstance(n, ast.Name) and n.id in GRADS and n.id != name]
        if name and name not in seen:
            seen.add(name)
            out.append((f"{name} = ...", [src]))
            if isinstance(node, ast.Assign) and any(
                isinstance(m, ast.AugAssign) and isinstance(m.op, ast.Add) and getattr(m.target, "id", None) == name
                for m in ast.parse(solution).body
            ):
                out[-1] = (
                    out[-1][0] + f"  # {name[1:]} is used twice: first its gradient through {', '.join(via)}",
                    [src],
                )
        elif name:
            out.append(
                (f"# {name} += ...  # then the one through {', '.join(via)}: remove the first # and fill it in", [src])
            )
        elif out:
            out[-1][1].append(src)  # e.g. `dlogprobs[range(n), Yb] = ...`: part of the slot above
        else:
            raise GeneratorError(f"exercise {ex.id}: the solution starts with `{src}`, which assigns no gradient")
    missing = [g for g in ex.grads if g not in seen]
    if missing:
        raise GeneratorError(f"exercise {ex.id}: the solution cell never assigns {', '.join(missing)}")
    return [(line, "\n".join(srcs)) for line, srcs in out]


def _blank(ex: Exercise, solution: str) -> str:
    """The blank of an exercise, from the catalogue and the order of the lesson's solution."""
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
    if ex.loop:
        setup = [line for line in solution.splitlines() if line and not line[0].isspace() and " = " in line]
        return "\n".join(
            [
                f"{MARKER}: exercise {ex.id}, {ex.title}: 1,000 steps of the lecture's loop.",
                "# Each step: draw a batch with `g` (torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g)),",
                "# forward(params, Xb, Yb), grads = backward(params, cache), p.data += -lr * grads[k] for every",
                "# parameter (lr 0.1, 0.01 from step 100,000), and lossi.append(loss.log10().item()); no autograd.",
                *setup,
            ]
        )
    head = [
        f"{MARKER}: exercise {ex.id}, {ex.title}.",
        "# Replace each `...` with your gradient (it has the shape of the tensor it belongs to), top to bottom:",
        "# each line can use the ones above it. Then run the check cell below.",
    ]
    return "\n".join(head + [line for line, _ in slots(solution, ex)])


def _checks(src: str, ex: Exercise, where: str) -> str:
    """The check cell: the lesson's set-up, then the catalogue's checks in place of the lesson's comparisons."""
    lines = src.splitlines()
    keep = max((i + 1 for i, line in enumerate(lines) if "loss.backward()" in line), default=0)
    compared = "\n".join(lines[keep:])
    if ex.function:
        if f"{ex.function}(" not in compared:
            raise GeneratorError(f"{where}: the check cell does not call {ex.function}(...) after loss.backward()")
        body = [f'grads, checks = check_backward("{ex.id}", "{ex.function}", params, cache, ns=globals())']
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


TASKS = {  # what a `derivation` cell keeps visible, after the forward formula: the task and a hint
    "2": "**Your task:** write `dlogits`, the gradient of the loss with respect to `logits`, in one go from `logits`, "
    "`Yb` and `n`, without the intermediate gradients of exercise 1a. *Hint:* differentiate $\\text{loss}_i$ with "
    "respect to one logit $l_j$, once for $j \\ne y$ and once for $j = y$; then remember that the loss is the mean "
    "over the batch.",
    "3": "**Your task:** write `dhprebn` in one line from `dhpreact` and the forward pass's tensors (`bngain`, "
    "`bnvar_inv`, `bnraw`, `n`). *Hint:* every $x_i$ reaches the loss three ways — directly through $\\hat{x}_i$, "
    "through the mean $\\mu$ and through the variance $\\sigma^2$ — so its gradient has three terms; writing "
    "$x_j - \\mu = \\hat{x}_j \\sqrt{\\sigma^2+\\epsilon}$ simplifies them. Mind Bessel's $n-1$.",
}
SKETCH_NOTE = (
    "The next code cell checks the fused forward pass; then write yours in the cell marked `# YOUR CODE HERE` and "
    "run its check. The lesson's derivation is in the collapsed *solution sketch* cell right after the check: "
    "click its `…` to open it once you are done, or stuck."
)
REWRITES = {  # lesson text that states a result the learner has not reached yet: (lesson's words, exercise's)
    "02:cell-18": [
        (
            "Every intermediate matches.",
            "When every row of exercise 1's checks says *exactly right* (✓) or "
            "*approximately right* (≈), every intermediate matches.",
        ),
        ("may say `exact: False`", "may say *approximately right* (in the lesson's table: `exact: False`)"),
    ],
    "02:cell-34": [
        ("Every formula checks out.", "When the table below shows every gradient right, every formula checks out.")
    ],
    "03:cell-06": [
        ("The first 1,000 steps, written out:", "Write the first 1,000 steps (exercise 4b), then run its check:")
    ],
    "03:same-md": [("rounding:", "rounding (the cell below shows it once your loop passes its check):")],
    "03:cell-09": [
        (
            "for all 200,000 steps.",
            "for all 200,000 steps, once exercise 4 passes its check; until then the cell "
            "says so and trains with `helpers.manual_backward`; its last line says which function trained the model.",
        )
    ],
}


def _rewrite(cell, lesson: str, where: str) -> None:
    for old, new in REWRITES.get(f"{lesson}:{cell.get('id')}", []):
        if old not in cell.source:
            raise GeneratorError(f"{where}: REWRITES expects the words {old!r}; update it to the lesson's new text")
        cell.source = cell.source.replace(old, new, 1)


def _split(cell, ex: Exercise, where: str):
    """A `derivation` cell: (the text up to the exercise's forward formula, with the task and a hint; the rest)."""
    text = cell.source
    head = text.find("\n## ") + 1 if not text.startswith("## ") else 0
    start = text.find("$$", head)
    end = text.find("$$", start + 2) + 2
    if start < 0 or end < 2 or ex.id not in TASKS:
        raise GeneratorError(f"{where}: a `derivation` cell needs a `## ` heading, a $$ forward formula and a task")
    sketch = nbformat.v4.new_markdown_cell(
        id=f"{cell.get('id')}-sketch",
        source=f"**Solution sketch** (exercise {ex.id}, the lesson's derivation)\n\n{text[end:].strip()}",
        metadata={"jupyter": {"source_hidden": True}},
    )
    return f"{text[:end]}\n\n{TASKS[ex.id]}\n\n{SKETCH_NOTE}", sketch


def _fallback(src: str, ex: Exercise, where: str) -> str:
    """A cell that trains with the learner's function: with it once it passes, else with helpers' own."""
    fn = ex.function
    if f"{fn}={fn}" not in src or not re.search(rf"f\"[^\"]*your {fn}", src):
        raise GeneratorError(f'{where}: a `fallback` cell passes {fn}={fn} and prints f"...your {fn}..."')
    body = src.replace(f"{fn}={fn}", f"{fn}=train_with").replace(f"your {fn}", "{who}")
    return "\n".join(
        [
            f"from helpers import manual_{fn}",
            "from helpers.exercises import solved",
            "",
            f'if solved("{ex.id}"):  # your {fn} passes exercise {ex.id}\'s check: it trains the model',
            f'    train_with, who = {fn}, "your {fn}"',
            "else:  # until then helpers' own trains it, so that lessons 04-06 get a model",
            "    print(",
            f'        "your {fn} does not pass exercise {ex.id}\'s check yet (see it above): "',
            f'        "helpers.manual_{fn} trains the model instead"',
            "    )",
            f'    train_with, who = manual_{fn}, "helpers.manual_{fn}"',
            body,
        ]
    )


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
    sketches: list = []  # derivations waiting for their exercise's check cell
    cells = []
    for cell in nb.cells:
        tags = _tags(cell)
        where = f"{src.name}, cell {cell.get('id')}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        _rewrite(cell, lesson, where)
        after = []
        if "derivation" in tags:
            ex = exercises[exercises.index(current) + 1 if current else 0]
            cell.source, sketch = _split(cell, ex, where)
            sketches.append(sketch)
        elif "solution" in tags:
            current = next(todo)
            solution = cell.source
            cell.source = _blank(current, solution)
            cell.metadata["tags"] = ["exercise" if t == "solution" else t for t in tags]
            if set(current.grads) & learner:  # an earlier exercise set these names: judge this cell's own
                cells.append(
                    nbformat.v4.new_code_cell(
                        id=f"{cell.get('id')}-begin",
                        source=f'from helpers.exercises import begin\n\nbegin("{current.id}", globals())  '
                        f"# so that the check judges what your cell below assigns, not an earlier exercise's answer",
                    )
                )
            if current.loop:
                after.append(
                    nbformat.v4.new_code_cell(
                        id=f"{cell.get('id')}-check",
                        metadata={"tags": ["check"]},
                        source=f'from helpers.exercises import check_loop\n\n_ = check_loop("{current.id}", '
                        f"ns=globals())  # params and lossi against 1,000 steps of helpers.train",
                    )
                )
            else:
                learner |= {current.function} if current.function else set(current.grads)
        elif current is None and ({"check", "needs-solution", "fallback"} & set(tags)):
            raise GeneratorError(f"{where}: tagged {tags} before any `solution` cell")
        elif "check" in tags:
            cell.source = _checks(cell.source, current, where)
            learner |= {"grads", "checks"} if current.function else set()
            after, sketches = sketches, []
        elif "needs-solution" in tags:
            cell.source = _guard(cell.source, current, where)
        elif "fallback" in tags:
            cell.source = _fallback(cell.source, next(e for e in exercises if e.function), where)
        elif "runs-helpers" in tags:
            # note: two blank lines before a def, one before anything else, as ruff format wants them
            gap = "\n\n\n" if cell.source.startswith(("def ", "@")) else "\n"
            cell.source = (
                'print("this cell runs helpers.manual_backward (lesson 3\'s solution), not your answers")'
                + gap
                + cell.source
            )
        elif cell.cell_type == "code" and current is not None:
            _lint(cell.source, learner, where)
        cells += [cell, *after]
    if sketches:
        raise GeneratorError(f"{src.name}: a `derivation` cell without a check cell after it")
    ids = ", ".join(e.id for e in exercises)
    intro = nbformat.v4.new_markdown_cell(
        id="exercise-intro",
        source="\n".join(
            [
                f"> **Exercise version** of `notebooks/{src.name}` "
                f"(exercise{'s' if len(exercises) > 1 else ''} {ids}), generated from it by `make exercises`.",
                ">",
                "> Fill in every cell marked `# YOUR CODE HERE` and run the check cell below it. "
                "A check says whether each gradient is *exactly right*, *approximately right* "
                "(floating-point rounding) or *not attempted yet*, "
                "and otherwise what is wrong — the shape, or which values, with a hint pointing at the step — without "
                "showing the answer. A cell that needs an exercise you have not solved yet is skipped, so with your "
                "cells untouched or working, *Run All* gets to the end, where a table shows your progress.",
                ">",
                "> When a cell of yours raises an error, Jupyter stops *Run All* there. Fix it (or put the `...` "
                "back) and run all again, or run the cells below it one by one: each check still answers, "
                "and says *not attempted yet* for what your cell did not get to assign.",
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
    nb.cells = [intro, *cells, summary]
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
