"""The lecture's own notebook (makemore_part4_backprop.ipynb, karpathy/nn-zero-to-hero), checked as the exercises are.

tools/grade.py runs it like an exercise notebook: in a fresh kernel, in a folder of its own, behind its guard. There
`record_in_kernel` below records, without changing a cell's text, the gradients `d<name>` each cell assigns (with the
parameters and the batch they belong to), and its training loop (exercise 4), cut to --steps: its start, each step's
batch and learning rate, its `grads` at the first step, and where it ends. `judge` then does, in the grader's
process: exercises 1a-3 with helpers.exercises' checks (the gradients assigned in the cells of each exercise, its
`# Exercise N` comment and those below it) against autograd on the lecture's chunked forward pass (notebooks/02's),
run on the notebook's own parameters and batch; exercise 4 as its gradients at the loop's first step, and 4b as its
parameters against the same steps from the same start on the same batches with autograd's gradients.
"""

import functools
import inspect
import re

import nbformat
import torch

from helpers.config import ROOT, Config
from helpers.exercises import EXERCISES, Exercises, Feedback
from helpers.exercises.checks import NOT_ATTEMPTED
from helpers.forward_map import forward_graph
from helpers.model import PARAM_NAMES, forward

ONE_TO_THREE = [e for e in EXERCISES.values() if e.lesson == "02"]  # 1a-1d, 2, 3: the same names as the lecture's
MARKER = re.compile(r"^\s*#+\s*exercise\s*(\d)\b", re.IGNORECASE | re.MULTILINE)  # "# Exercise 2: ..." or a heading
PGRAD = "your loop updates with autograd's p.grad, not with your gradients: once they pass, p.data += -lr * grad"


def is_lecture(nb) -> bool:
    """The lecture's notebook, in whatever state: its chunked forward pass and its training loop are in the code."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return all(name in code for name in ("bnmeani", "counts_sum_inv", "hprebn", "randint"))


def instrument(nb, setup: str, steps: int):
    """The notebook with the grader's first cell (the guard, `setup`, then the recorder); metadata "grading": what the
    report calls each cell, with the exercise it is in (the last "# Exercise N" above it)."""
    now = None
    for n, c in enumerate(nb.cells):
        now = (MARKER.findall(c.source) or [now])[-1]
        c.metadata["grading"] = f"cell {n + 1}" + f" (exercise {now})" * bool(now)
    names = sorted({"d" + k for e in ONE_TO_THREE for k in e.grads})
    call = f"record_in_kernel(_grader_snap, {steps}, {names}, {list(PARAM_NAMES)})"
    src = f"{setup}\n{inspect.getsource(record_in_kernel)}\n{call}"
    nb.cells.insert(0, nbformat.v4.new_code_cell(src, metadata={"grading": "the grader's set-up"}))
    return nb


def record_in_kernel(snap, steps: int, names: list, params: list):
    """Set up in the notebook's kernel, after the guard (tools/grade.py's in_kernel, whose `snap` saves the record
    after each cell): hooks that note the `names` each cell changed, an AST transformer that sends the training loop
    through `loop` below, and shell commands that are noted, not run."""
    import ast
    import sys

    import torch

    ip = get_ipython()  # noqa: F821 (the kernel's)
    g, rec, before = ip.user_ns, {"vars": [], "loop": None, "shell": []}, {}

    def keep(v):
        return v.detach().clone() if isinstance(v, torch.Tensor) else v

    def now():  # what the names hold: (id, version, the object, kept alive so that no other gets its id)
        return {k: (id(g[k]), getattr(g[k], "_version", None), g[k]) for k in names if k in g}

    def loop(it):  # a step is done when the next one starts, or at a break
        r = rec["loop"] = dict(total=len(it), cut=len(it[:steps]), start={k: keep(g.get(k)) for k in params}, steps=[])
        r["grads"], old = None, g.get("grads")  # the gradients of the first step, computed in this loop
        try:
            for i in it[:steps]:
                yield i
                took(r, old)
        except GeneratorExit:  # a break (or an error: its cell's error then says so, and 4b is not judged)
            took(r, old)
        finally:
            r["final"], lossi = {k: keep(g.get(k)) for k in params}, g.get("lossi")
            r["lossi"] = list(lossi[-len(r["steps"]) :]) if isinstance(lossi, list) and r["steps"] else []

    def took(r, old):
        r["steps"].append([keep(g.get("Xb")), keep(g.get("Yb")), g.get("lr")])
        mine = g.get("grads")
        if len(r["steps"]) == 1 and isinstance(mine, (list, tuple)) and mine is not old:
            r["grads"] = [keep(t) for t in mine]

    def shell(cmd, *args, **kwargs):  # !wget, %pip: the grader provides names.txt and runs no processes
        rec["shell"].append([ip.execution_count - 1, "!" + str(cmd).replace(sys.executable, "python")[:80]])

    class Loops(ast.NodeTransformer):
        def visit_For(self, node):  # a loop over range(...) that draws batches with randint: the training loop
            self.generic_visit(node)
            draws = any(getattr(n, "attr", getattr(n, "id", "")) == "randint" for n in ast.walk(node))
            if draws and isinstance(node.iter, ast.Call) and getattr(node.iter.func, "id", "") == "range":
                node.iter = ast.Call(ast.Name("_grader_loop", ast.Load()), [node.iter], [])
            return ast.fix_missing_locations(node)

    def post(result):
        n, err, r = result.execution_count, result.error_in_exec or result.error_before_exec, rec["loop"]
        if r is not None and "raised" not in r:  # the loop ran in this cell: 4b is judged only if it did not raise
            r["raised"] = err and f"{type(err).__name__}: {str(err)[:200]}"
        changed = [k for k, v in now().items() if before.get(k, ())[:2] != v[:2]]
        state = {k: keep(g.get(k)) for k in (*params, "Xb", "Yb")} if changed else None
        rec["vars"] += [[n, k[1:], keep(g[k]), state] for k in changed]
        snap("lecture", [], values=rec)

    g["_grader_loop"], ip.system, ip.getoutput = loop, shell, shell
    ip.ast_transformers.append(Loops())
    ip.events.register("pre_run_cell", lambda info: before.clear() or before.update(now()))
    ip.events.register("post_run_cell", post)


@functools.cache
def _chunked_forward():
    """notebooks/02's forward pass, chunked as the lecture's, up to its loss.backward(): the reference of 1a-3."""
    cells = nbformat.read(ROOT / "notebooks" / "02_gradient_verification.ipynb", as_version=4).cells
    src = next(c.source for c in cells if c.get("id") == "cell-05")
    return compile(src[: src.index("loss.backward()") + len("loss.backward()")], "notebooks/02, cell-05", "exec")


def _graph(s: dict) -> tuple:
    """Autograd's graph of the lecture's forward pass on the notebook's parameters and batch: Exercises' reference."""
    p, Xb, Yb = {k: s[k].clone().requires_grad_(True) for k in PARAM_NAMES}, s["Xb"], s["Yb"]
    ns = p | dict(Xb=Xb, Yb=Yb, n=len(Xb), parameters=list(p.values()), torch=torch, F=torch.nn.functional)
    exec(_chunked_forward(), ns)
    return forward_graph(ns["loss"], ns), Xb, Yb


def _replay(start: dict, steps: list) -> tuple[dict, list]:
    """The same steps from the same start on the same batches, with autograd's gradients: exercise 4b's reference."""
    p, lossi = {k: start[k].clone().requires_grad_(True) for k in PARAM_NAMES}, []
    for i, (Xb, Yb, lr) in enumerate(steps):
        loss, _ = forward(p, Xb, Yb)
        with torch.no_grad():
            for t, d in zip(p.values(), torch.autograd.grad(loss, list(p.values())), strict=True):
                t -= (lr if isinstance(lr, (int, float)) else Config().lr_at(i)) * d  # else the lecture's schedule
        lossi.append(loss.log10().item())
    return {k: t.detach() for k, t in p.items()}, lossi


def _judge_four(ex: Exercises, r: dict | None) -> list:
    """Exercise 4 and 4b from the notebook's last training loop; the notes on what happened to it."""
    done = len(r["steps"]) if r else 0
    print("exercise 4: the whole backward pass: your gradients at the first step of your loop")
    if r is None or r["grads"] is None:
        why = "no `grads = [dC, dW1, ...]` in a training loop (a loop over range(...) that draws batches with randint)"
        ex.report("4", [Feedback("4", k, NOT_ATTEMPTED, why) for k in PARAM_NAMES])
    else:
        p = {k: r["start"][k].clone().requires_grad_(True) for k in PARAM_NAMES}
        loss, cache = forward(p, *r["steps"][0][:2])
        loss.backward()

        def your_loop(params, cache):
            return r["grads"]

        ex.check_backward(your_loop, p, cache)
    print(f"exercise 4b: the training loop: your parameters after {done:,} steps")
    if r is None:
        return []
    raised, total = r.get("raised"), r["total"]
    notes = [f"exercise 4's loop cut to its first {done:,} of {total:,} steps"] * (done == r["cut"] < total)
    notes += [f"exercise 4's loop stopped after {done:,} of its {total:,} steps"] * (done < r["cut"] and not raised)
    ref, ref_lossi = _replay(r["start"], r["steps"]) if done and not raised else (None, None)
    autograd = ref and max((r["final"][k] - ref[k]).abs().max().item() for k in PARAM_NAMES) < 1e-4
    why = (f"your loop raised {raised}" if raised else "your loop did not finish a step") if not ref else PGRAD
    if not ref or autograd and not ex.solved("4"):  # autograd's parameters, with gradients that are not right: p.grad
        ex.report("4b", [Feedback("4b", "params", NOT_ATTEMPTED, why), Feedback("4b", "lossi", NOT_ATTEMPTED)])
    else:
        ex.check_loop(r["final"], r["lossi"], None, done, reference=(ref, ref_lossi, "autograd's"))
    return notes


def judge(rec: dict | None, cells: dict) -> tuple[list, list]:
    """The lecture notebook's answers (`record_in_kernel`'s record), judged, the checks printing their feedback as they
    go: ([Exercises 02, Exercises 03], notes). `cells`: execution count -> what the rows call its cell."""
    rec, got, last = {"vars": [], "loop": None, "shell": []} | (rec or {}), {}, None
    for count, name, value, state in rec["vars"]:  # the last value a gradient had in its exercise's cells
        mark = (re.findall(r"\(exercise (\d)\)$", cells.get(count, "")) or [None])[0]
        for e in (e for e in ONE_TO_THREE if e.id[0] == mark and name in e.grads):
            got[e.id, name], last = value, state
    ex2 = Exercises("02", *_graph(last)) if last else Exercises("02")  # on the batch of the last answer
    for e in ONE_TO_THREE:
        print(f"exercise {e.id}: {e.title}")
        mine = {k: got.get((e.id, k), f"no d{k} in exercise {e.id[0]}'s cells") for k in e.grads}
        if ex2.ref is None:
            ex2.report(e.id, [Feedback(e.id, k, NOT_ATTEMPTED, v) for k, v in mine.items()])
        else:
            ex2.check(e.id, **mine)
    notes = _judge_four(ex3 := Exercises("03"), rec["loop"])
    notes += [f"{cells.get(n, 'a cell')}'s {what} skipped: the checker runs no processes and provides names.txt"
              for n, what in rec["shell"]]  # fmt: skip
    return [ex2, ex3], notes
