"""Generate the exercise notebooks in exercises/ from the lessons in notebooks/: `make exercises`.

The lessons (with their solutions and outputs) are the single source; an exercise notebook is the same
notebook with each answer blanked and each comparison replaced by a check that gives feedback without
revealing the answer (helpers/exercises.py). The cells are found by their tags (cell metadata "tags"):

  solution        an exercise's answer; in order, 02 has 1a, 1b, 1c, 1d, 2, 3 and 03 has 4
                  (helpers.exercises.EXERCISES). Becomes a blank tagged `exercise`: under `# YOUR CODE HERE`,
                  every name the answer assigns, as `name = ...`; a function keeps its `def` line, a comment
                  with the `return` it must end with, and `raise NotImplementedError(...)`.
  check           compares the answer with autograd. Each `cmp("x", dx, x)` becomes `check("<id>", "dx")`;
                  `grads = backward(...)` followed by `checks = compare_grads(grads, refs)` becomes
                  `grads, checks = check_backward("<id>", backward, ...)`. Every other line is kept.
  needs-solution  uses the answer of the nearest exercise above it (02's plot of dlogits, 03's training with
                  your backward). Wrapped in `if solved("<id>"): ... else: print("skipped: ...")`, so an
                  untouched exercise notebook runs top to bottom.

Every other cell is copied as it is. Outputs and execution counts are cleared, the notebook's widget state
is dropped, an introduction cell (id exercise-intro) is added at the top and a progress cell (id
exercise-progress, tag progress) at the end. Cell ids are kept, nothing depends on time: regenerating
gives the same bytes. As a safety net, an untagged code cell after an exercise that reads a name the
learner defines is an error (tag it `needs-solution`).

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
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers.exercises import EXERCISES, Exercise  # noqa: E402

LESSONS = ROOT / "notebooks"
OUT = ROOT / "exercises"
SOURCES = ("02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb")
MARKER = "# YOUR CODE HERE"


class GeneratorError(Exception):
    """The lesson can't be turned into an exercise notebook as it is (the message says which cell and why)."""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


# --------------------------------------------------------------------------------------------------
# solution -> blank


def _blank(src: str, ex: Exercise, where: str) -> tuple[str, set[str]]:
    """The blank for a solution cell, and the names it defines."""
    tree = ast.parse(src)
    lines = src.splitlines()
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if funcs:
        if len(funcs) != len(tree.body):
            raise GeneratorError(f"{where}: a solution cell is either functions or assignments, not both")
        out: list[str] = []
        for f in funcs:
            out += _function_blank(src, lines, f, ex, where)
        return "\n".join(out), {f.name for f in funcs}
    names: list[str] = []
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id not in names:
                    names.append(n.id)
    missing = [g for g in ex.grads if g not in names]
    if missing:
        raise GeneratorError(f"{where}: exercise {ex.id} checks {missing}, which its solution cell does not assign")
    head = [f"{MARKER}: exercise {ex.id}, {ex.title}.",
            "# Replace each `...` with your gradient (it has the shape of the tensor it belongs to), then run the",
            "# check cell below."]
    return "\n".join(head + [f"{n} = ..." for n in names]), set(names)


def _function_blank(src: str, lines: list[str], f: ast.FunctionDef, ex: Exercise, where: str) -> list[str]:
    # the signature: from `def` to the line that ends with its colon
    end = max([f.lineno] + [n.end_lineno for n in ast.walk(f.args) if hasattr(n, "end_lineno")]
              + ([f.returns.end_lineno] if f.returns else []))
    while not lines[end - 1].split("#")[0].rstrip().endswith(":"):
        end += 1
    indent = " " * f.body[0].col_offset
    returns = [n for n in ast.walk(f) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        raise GeneratorError(f"{where}: {f.name} returns nothing")
    ret = returns[-1]
    if isinstance(ret.value, ast.Dict):
        keys = [k.value for k in ret.value.keys if isinstance(k, ast.Constant)]
        if sorted(keys) != sorted(g[1:] for g in ex.grads):
            raise GeneratorError(f"{where}: {f.name} returns {keys}; exercise {ex.id} checks {list(ex.grads)}")
    args = ", ".join(a.arg for a in f.args.args)
    return [*lines[f.lineno - 1:end],
            f"{indent}{MARKER}: exercise {ex.id}, {ex.title}. No autograd: compute every gradient by hand,",
            f"{indent}# and finish with",
            f"{indent}# {ast.get_source_segment(src, ret)}",
            f'{indent}raise NotImplementedError("exercise {ex.id}: write {f.name}({args})")']


# --------------------------------------------------------------------------------------------------
# check -> helpful checks


def _top_call(stmt: ast.stmt) -> tuple[ast.Call | None, str | None]:
    """`f(...)` or `x = f(...)` at the top of a statement: (the call, x or None)."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return stmt.value, None
    if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)):
        return stmt.value, stmt.targets[0].id
    return None, None


def _trailing_comment(lines: list[str], stmt: ast.stmt) -> str:
    rest = lines[stmt.end_lineno - 1][stmt.end_col_offset:]
    return rest if rest.strip().startswith("#") else ""


def _checks(src: str, ex: Exercise, solution_defs: set[str], where: str) -> tuple[str, set[str]]:
    """The check cell with its comparisons replaced, and the names the replacements define."""
    tree = ast.parse(src)
    lines = src.splitlines()
    edits: list[tuple[int, int, list[str]]] = []
    compared: list[str] = []
    imports: set[str] = set()
    defined: set[str] = set()
    call_of_solution = None  # (result name, function, argument sources) of `x = backward(...)`
    for stmt in tree.body:
        call, target = _top_call(stmt)
        fn = call.func.id if call is not None and isinstance(call.func, ast.Name) else None
        assign = f"{target} = " if target else ""
        if fn == "cmp":
            if len(call.args) != 3 or not all(isinstance(a, ast.Name) for a in call.args[1:]):
                raise GeneratorError(f"{where}: line {stmt.lineno}: expected cmp(\"name\", dname, name)")
            d, t = call.args[1].id, call.args[2].id
            compared.append(d)
            extra = f', "{t}"' if t != d[1:] else ""
            edits.append((stmt.lineno, stmt.end_lineno,
                          [f'{assign}check("{ex.id}", "{d}"{extra}){_trailing_comment(lines, stmt)}']))
            imports.add("check")
        elif any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in solution_defs
                 for n in ast.walk(stmt)):
            calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Assign) and len(n.targets) == 1
                     and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Call)
                     and isinstance(n.value.func, ast.Name) and n.value.func.id in solution_defs]
            if len(calls) != 1:
                names = "/".join(sorted(solution_defs))
                raise GeneratorError(f"{where}: line {stmt.lineno}: expected `x = {names}(...)`")
            c = calls[0]
            call_of_solution = (c.targets[0].id, c.value.func.id,
                                [ast.get_source_segment(src, a) for a in c.value.args])
            edits.append((stmt.lineno, stmt.end_lineno, []))  # check_backward makes this call itself
        elif fn == "compare_grads":
            first = call.args[0] if call.args else None
            if call_of_solution is None or not isinstance(first, ast.Name) or first.id != call_of_solution[0]:
                raise GeneratorError(f"{where}: line {stmt.lineno}: compare_grads must compare the result of "
                                     f"the exercise's function")
            grads, func, args = call_of_solution
            refs = ast.get_source_segment(src, call.args[1])
            extra = f", refs={refs}" if refs != args[0] else ""
            edits.append((stmt.lineno, stmt.end_lineno,
                          [f'{grads}, {target or "_"} = check_backward("{ex.id}", {func}, {", ".join(args)}{extra})'
                           f'{_trailing_comment(lines, stmt)}']))
            compared += list(ex.grads)
            defined |= {grads, target or "_"}
            imports.add("check_backward")
    if not compared:
        raise GeneratorError(f"{where}: a `check` cell with no cmp(...) or compare_grads(...) to replace")
    if "check" in imports and compared != list(ex.grads):
        raise GeneratorError(f"{where}: the check cell compares {compared}, but helpers.exercises.EXERCISES"
                             f"[{ex.id!r}] lists {list(ex.grads)}: keep the two in step")
    for first, last, new in sorted(edits, reverse=True):
        lines[first - 1:last] = new
    return "\n".join([f"from helpers.exercises import {', '.join(sorted(imports))}", "", *lines]), defined


# --------------------------------------------------------------------------------------------------
# needs-solution -> guarded


def _guard(src: str, ex: Exercise, where: str) -> str:
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.STRING and tok.start[0] != tok.end[0]:
            raise GeneratorError(f"{where}: a multi-line string would change when the cell is indented")
    why = f"this cell uses your answer to exercise {ex.id}"
    return "\n".join(["from helpers.exercises import solved", "",
                      f'if solved("{ex.id}"):  # {why}',
                      textwrap.indent(src, "    "),
                      "else:",
                      f'    print("skipped: {why}; it runs once exercise {ex.id} passes its checks")'])


def _lint(src: str, learner: set[str], where: str) -> None:
    """An untagged cell must not read a name that only the learner's answer defines."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    stored |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    stored |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stored |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for a in n.names}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    used = sorted((loaded - stored) & learner)
    if used:
        raise GeneratorError(f"{where}: uses {', '.join(used)}, which the learner's answer defines: tag the cell "
                             f"`needs-solution` so it is skipped until the exercise is solved")


# --------------------------------------------------------------------------------------------------
# the notebook


def build(src: Path) -> nbformat.NotebookNode:
    """The exercise notebook for the lesson at `src`."""
    nb = copy.deepcopy(nbformat.read(src, as_version=4))
    lesson = src.name[:2]
    exercises = [e for e in EXERCISES.values() if e.lesson == lesson]
    solutions = [c for c in nb.cells if "solution" in _tags(c)]
    if len(solutions) != len(exercises):
        raise GeneratorError(f"{src.name}: {len(solutions)} cells tagged `solution`, but lesson {lesson} has "
                             f"{len(exercises)} exercises ({', '.join(e.id for e in exercises)})")
    current: Exercise | None = None
    solution_defs: set[str] = set()
    learner: set[str] = set()
    todo = iter(exercises)
    for cell in nb.cells:
        tags = _tags(cell)
        where = f"{src.name}, cell {cell.get('id')}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if "solution" in tags:
            current = next(todo)
            cell.source, solution_defs = _blank(cell.source, current, where)
            learner |= solution_defs
            cell.metadata["tags"] = ["exercise" if t == "solution" else t for t in tags]
        elif current is None and ({"check", "needs-solution"} & set(tags)):
            raise GeneratorError(f"{where}: tagged {tags} before any `solution` cell")
        elif "check" in tags:
            cell.source, defined = _checks(cell.source, current, solution_defs, where)
            learner |= defined
        elif "needs-solution" in tags:
            cell.source = _guard(cell.source, current, where)
        elif cell.cell_type == "code" and current is not None:
            _lint(cell.source, learner, where)
    ids = ", ".join(e.id for e in exercises)
    intro = nbformat.v4.new_markdown_cell(id="exercise-intro", source="\n".join([
        f"> **Exercise version** of `notebooks/{src.name}` (exercise{'s' if len(exercises) > 1 else ''} {ids}), "
        f"generated from it by `make exercises`.",
        ">",
        "> Fill in every cell marked `# YOUR CODE HERE` and run the check cell below it. A check says whether each "
        "gradient is *exactly right*, *approximately right* (floating-point rounding) or *not attempted yet*, "
        "and otherwise what is wrong — the shape, or which values, with a hint pointing at the step — without "
        "showing the answer. A cell that needs an exercise you have not solved yet is skipped, so *Run All* "
        "always gets to the end, where a table shows your progress.",
        ">",
        f"> Stuck? The lesson `notebooks/{src.name}` has the solution. More in `docs/exercises.md`."]))
    summary = nbformat.v4.new_code_cell(id="exercise-progress", metadata={"tags": ["progress"]}, source="\n".join([
        "from helpers.exercises import progress", "",
        f'progress("{lesson}")  # which gradients pass their checks so far']))
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
    except Exception as e:  # noqa: BLE001 - unreadable: not ours to overwrite silently
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
            print(f"{show(dest)}: not overwritten, {why} — save your work elsewhere, then rerun with --force "
                  f"(make exercises FORCE=1)", file=sys.stderr)
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
