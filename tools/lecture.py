"""The lecture's own notebook (makemore_part4_backprop.ipynb, karpathy/nn-zero-to-hero), checked as the exercises are.

tools/grade.py runs it like an exercise notebook: in a fresh kernel, in a folder of its own, behind its guard. There
`record_in_kernel` below records, without changing a cell's text: every `cmp(name, dt, t)` the notebook calls (the
arguments, never the lecture's own printout, and the next line runs even when one raises), the gradients `d<name>`
its exercise 1-3 cells assign, and its training loop (exercise 4), cut to --steps: where it starts, its batches, its
gradients at the first step and the parameters it ends with. `judge` then does, in the grader's process: exercises
1a-3 with helpers.exercises' checks against the lecture's forward pass (notebooks/02's chunked one) on the notebook's
own parameters and batch, and exercise 4 as 4b is judged: its gradients at the loop's first step, then its
parameters against the same steps from the same start and the same batches with autograd's gradients.
"""

import functools
import inspect
import re

import nbformat
import torch

from helpers.config import ROOT
from helpers.exercises import EXERCISES
from helpers.exercises.checks import NOT_ATTEMPTED, Exercises, Feedback
from helpers.exercises.hints import Ref
from helpers.forward_map import forward_graph
from helpers.model import PARAM_NAMES, forward

ONE_TO_THREE = [e for e in EXERCISES.values() if e.lesson == "02"]  # 1a-1d, 2, 3: the same names as the lecture's
NAMES = sorted({k for e in ONE_TO_THREE for k in e.grads})
MARKER = re.compile(r"^\s*#+\s*exercise\s*(\d)\b", re.IGNORECASE | re.MULTILINE)  # "# Exercise 2: ..." or a heading
HOW = (
    "each step: a batch drawn with g, the forward pass, your gradients, p.data += -lr * grad for each parameter with "
    "your grad (not p.grad), and lr as the lecture sets it"
)


NOTHING = dict(cmp=[], vars=[], loops=[], states=[], shell=[], raised={})  # what a notebook that recorded nothing gives


def is_lecture(nb) -> bool:
    """The lecture's notebook, in whatever state: its chunked forward pass and its training loop are in the code."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return all(name in code for name in ("bnmeani", "counts_sum_inv", "hprebn", "randint"))


def markers(nb) -> list:
    """For each cell, the exercise it is in: the last "# Exercise N" seen so far, in a comment or a heading."""
    out, now = [], None
    for c in nb.cells:
        now = (MARKER.findall(c.source) or [now])[-1]
        out.append(now)
    return out


def out_of_order(nb) -> str:
    """A note when the notebook was saved with its cells run out of order (we run them top to bottom)."""
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    late = next(((a, b) for a, b in zip(counts, counts[1:], strict=False) if b < a), None)
    return f"its cells were last run out of order (In [{late[0]}] above In [{late[1]}]); checked top to bottom, " \
        "as Restart Kernel and Run All does" if late else ""  # fmt: skip


def instrument(nb, setup: str, steps: int):
    """The notebook with the grader's first cell (the guard, `setup`, then the recorder below) and its last; metadata
    "grading": what the report calls each cell, and "exercise": the exercise it is in."""
    for n, (c, m) in enumerate(zip(nb.cells, markers(nb), strict=True)):
        c.metadata["grading"], c.metadata["exercise"] = f"cell {n + 1}" + f" (exercise {m})" * bool(m), m
    src = f"{setup}\n{inspect.getsource(record_in_kernel)}\nrecord_in_kernel(_grader_snap, {steps}, {NAMES})"
    nb.cells.insert(0, nbformat.v4.new_code_cell(src, metadata={"grading": "the grader's set-up"}))
    end = nbformat.v4.new_code_cell("_grader_snap('end', [])", metadata={"grading": "the grader's last cell"})
    nb.cells.append(end)
    return nb


def record_in_kernel(snap, steps: int, names: list):
    """Set up in the notebook's kernel, after the guard (tools/grade.py's in_kernel, whose `snap` saves what is
    recorded): an AST transformer that sends cmp(...) calls, shell commands and the training loop through the
    functions below, and hooks that note what each cell assigned and whether it raised."""
    import ast

    import torch

    ip = get_ipython()  # noqa: F821 (the kernel's)
    g, params_ = ip.user_ns, ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
    rec, keys, held, before = {"cmp": [], "vars": [], "loops": [], "states": [], "shell": [], "raised": {}}, {}, [], {}
    watched, cell = ["d" + k for k in names] + ["grads"], [None]  # cell: the execution count of the cell running

    def clone(v):
        return v.detach().clone() if isinstance(v, torch.Tensor) else v

    def now(keys_):  # what the names hold, kept alive so that an id is never reused while we compare by it
        return {k: (g[k], getattr(g[k], "_version", None)) for k in keys_ if k in g}

    def changed(k, then):
        return k in g and (k not in then or then[k][0] is not g[k] or then[k][1] != getattr(g[k], "_version", None))

    def state():  # the parameters and the batch a gradient belongs to, each distinct one recorded once
        vals = [g.get(k) for k in (*params_, "Xb", "Yb")]
        if not all(isinstance(v, torch.Tensor) for v in vals):
            return None
        key = tuple((id(v), v._version) for v in vals)
        if key not in keys:
            held.append(vals)
            keys[key] = len(rec["states"])
            rec["states"].append(dict(zip((*params_, "Xb", "Yb"), map(clone, vals), strict=True)))
        return keys[key]

    def parameters():
        p = g.get("parameters")
        if isinstance(p, (list, tuple)) and len(p) == 7 and all(isinstance(t, torch.Tensor) for t in p):
            return dict(zip(params_, map(clone, p), strict=True))
        return {k: clone(g[k]) for k in params_ if isinstance(g.get(k), torch.Tensor)}

    def cmp(*args, **kwargs):
        name, dt = ([*args, *(kwargs[k] for k in ("s", "dt") if k in kwargs)] + [None] * 2)[:2]
        held.append(dt)
        name = name if isinstance(name, str) else str(name)[:40]
        same = f"{id(dt)}/{getattr(dt, '_version', '')}"  # the same tensor, unchanged, checked again
        rec["cmp"].append(dict(count=cell[0], name=name, dt=clone(dt), id=same, state=state()))

    def cmp_error(name, e):
        missing = e.name if isinstance(e, NameError) else None
        rec["cmp"].append(dict(count=cell[0], name=name, error=[type(e).__name__, str(e)[:200], missing]))

    def loop(it):  # the training loop, cut to `steps` steps
        r = dict(count=cell[0], total=len(it) if hasattr(it, "__len__") else None, start=parameters())
        r |= dict(batches=[], lrs=[], first=None, done=0, open=False)
        rec["loops"].append(r)
        then, it = now(watched), iter(it)

        def step_ends():
            lr = g.get("lr")
            r["batches"].append([clone(g.get("Xb")), clone(g.get("Yb"))])
            r["lrs"].append(lr if isinstance(lr, (int, float)) else None)
            if r["first"] is None:  # the gradients of the first step, computed in this loop (not left from before)
                gl = g.get("grads")
                mine = [clone(v) for v in gl] if isinstance(gl, (list, tuple)) and changed("grads", then) else None
                if mine is None:
                    mine = {k: clone(g["d" + k]) if changed("d" + k, then) else None for k in params_}
                autograd = any(getattr(t, "grad", None) is not None for t in (g.get("parameters") or []))
                r["first"] = dict(grads=mine, autograd=autograd, Xb=clone(g.get("Xb")), Yb=clone(g.get("Yb")))
            r["done"] += 1

        try:
            while r["done"] < steps:
                try:
                    x = next(it)
                except StopIteration:
                    break
                r["open"] = True
                yield x
                r["open"] = False
                step_ends()
        finally:
            if r["open"]:  # closed in a step: by a break (the step is done) or by an error (post() takes it back)
                step_ends()
            close(r)

    def close(r):
        if "final" not in r:
            r["cut"] = r["done"] == steps and (r["total"] is None or r["total"] > steps)
            r["final"], r["lossi"] = parameters(), [float(x) for x in g.get("lossi") or [] if isinstance(x, float)]

    def shell(kind, *args):  # the checker provides names.txt and runs no processes: a !command or %pip is skipped
        what = {"run_line_magic": "%", "run_cell_magic": "%%"}.get(kind, "!") + " ".join(map(str, args[:2]))
        what = what.split("\n")[0]
        rec["shell"].append([cell[0], what if len(what) < 90 else what[:89] + "…"])

    class Rewrite(ast.NodeTransformer):
        def visit_Expr(self, node):  # cmp(...) as a statement: recorded, and a line that raises doesn't stop the cell
            c = node.value  # (also `_ = cmp(...)`: the lecture's cmp returns nothing to keep)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "cmp":
                name = c.args[0] if c.args and isinstance(c.args[0], ast.Constant) else ast.Constant(None)
                new = ast.parse(
                    "try:\n    CALL\nexcept Exception as _grader_e:\n    _grader_cmp_error(NAME, _grader_e)"
                )
                new.body[0].body[0].value, new.body[0].handlers[0].body[0].value.args[0] = self.visit(c), name
                return ast.copy_location(new.body[0], node)
            return self.generic_visit(node)

        visit_Assign = visit_Expr

        def visit_Call(self, node):
            self.generic_visit(node)
            f = node.func
            if isinstance(f, ast.Name) and f.id == "cmp":
                f.id = "_grader_cmp"
            elif isinstance(f, ast.Attribute) and getattr(getattr(f.value, "func", None), "id", "") == "get_ipython" \
                    and f.attr in ("system", "getoutput", "run_line_magic", "run_cell_magic"):  # fmt: skip
                magic = f.attr.startswith("run_") and node.args and getattr(node.args[0], "value", "")
                if not magic or magic in ("pip", "conda", "mamba", "sx", "system", "bash", "sh", "script"):
                    node.func, node.args = ast.Name("_grader_shell", ast.Load()), [ast.Constant(f.attr), *node.args]
            return node

        def visit_For(self, node):  # a loop over range(...) that draws batches: the training loop
            self.generic_visit(node)
            it = node.iter
            draws = any(getattr(n, "attr", getattr(n, "id", "")) == "randint" for n in ast.walk(node))
            if draws and isinstance(it, ast.Call) and getattr(it.func, "id", "") == "range":
                node.iter = ast.Call(ast.Name("_grader_loop", ast.Load()), [it], [])
            return node

        def visit(self, node):  # never let the kernel drop us (it does when a transformer raises)
            try:
                return ast.fix_missing_locations(super().visit(node))
            except Exception:
                return node

    def pre(info):
        before.clear()
        before.update(now(watched))
        cell[0] = ip.execution_count - 1  # note: IPython counts the cell before it runs it; post() makes sure

    def post(result):
        n, err = result.execution_count, result.error_in_exec or result.error_before_exec
        for r in (r for kind in ("cmp", "loops") for r in rec[kind] if r["count"] == cell[0] != n):
            r["count"] = n
        if err is not None:
            rec["raised"][n] = [type(err).__name__, str(err)[:200]]
            for r in (r for r in rec["loops"] if r["count"] == n and r["open"] and r["done"]):
                r["done"] -= 1  # the step it raised in was not finished: not one to compare
                del r["batches"][-1], r["lrs"][-1]
        for r in (r for r in rec["loops"] if r["count"] == n):
            close(r)  # if the loop's generator is still alive
        kept = state()
        for k in (k for k in watched[:-1] if changed(k, before) and isinstance(g[k], torch.Tensor)):
            rec["vars"].append(dict(count=n, name=k[1:], dt=clone(g[k]), state=kept))
        snap("lecture", [], values=rec)

    g.update(_grader_cmp=cmp, _grader_cmp_error=cmp_error, _grader_loop=loop, _grader_shell=shell)
    ip.ast_transformers.append(Rewrite())
    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)


@functools.cache
def _chunked_forward():
    """notebooks/02's forward pass, chunked as the lecture's, up to its loss.backward(): the reference of 1a-3."""
    cells = nbformat.read(ROOT / "notebooks" / "02_gradient_verification.ipynb", as_version=4).cells
    src = next(c.source for c in cells if c.get("id") == "cell-05")
    return compile(src[: src.index("loss.backward()") + len("loss.backward()")], "notebooks/02, cell-05", "exec")


def _reference(s: dict) -> Ref:
    """Autograd's gradients of every tensor of the lecture's forward pass, on the notebook's parameters and batch."""
    p = {k: s[k].clone().requires_grad_(True) for k in PARAM_NAMES}
    ns = p | dict(Xb=s["Xb"], Yb=s["Yb"], n=len(s["Xb"]), parameters=list(p.values()), torch=torch)
    ns["F"] = torch.nn.functional
    exec(_chunked_forward(), ns)
    return Ref.of_graph(forward_graph(ns["loss"], ns), s["Xb"], s["Yb"])


def _exercise_of(name: str, marker, same_cell: set) -> str | None:
    """Which of 1a-3 a gradient of `name` answers: by the exercise its cell is in, or else by its name alone."""
    ids = [e.id for e in ONE_TO_THREE if name in e.grads]  # logits: 1a and 2; hprebn: 1c and 3; the others one
    if not ids:
        return None
    if marker in ("2", "3") and marker in ids:
        return marker
    if marker == "1" or len(ids) == 1:
        return ids[0]
    return ids[0] if same_cell & set(NAMES) - {"logits", "hprebn"} else ids[-1]  # beside exercise-1 checks: 1


def _answers(rec: dict, cells: dict) -> tuple[dict, list]:
    """{exercise: {name: record}} from the cmp calls (first choice) and the d<name> assignments of exercises 1-3's
    cells, and the notes on cmp calls that are not judged."""
    by_cell: dict = {}
    for r in rec["cmp"]:
        by_cell.setdefault(r["count"], set()).add(r["name"])
    out, unknown = {}, {}
    for kind, records in (("vars", rec["vars"]), ("cmp", rec["cmp"])):  # cmp last: it wins
        for r in records:
            label, marker = cells.get(r["count"], ("a cell", None))
            if kind == "vars" and marker not in ("1", "2", "3"):
                continue
            ex = _exercise_of(r["name"], marker, by_cell.get(r["count"], set())) if r["name"] else None
            if kind == "vars" and (ex is None or ex[0] != marker):
                continue
            if ex is None:
                unknown.setdefault(label, []).append(repr(r["name"]))
            else:
                out.setdefault(ex, {})[r["name"]] = r | {"label": label}
    notes = [f"cmp({', '.join(dict.fromkeys(v))}, ...) in {k}: not a name of the lecture's exercises, not judged"
             for k, v in unknown.items()]  # fmt: skip
    return out, notes


def _judge_one_to_three(ex2: Exercises, rec: dict, cells: dict) -> list:
    answers, notes = _answers(rec, cells)
    refs = functools.cache(lambda i: _reference(rec["states"][i]))
    first: dict = {}  # the exercise where each of the notebook's gradient tensors was first checked
    for e in ONE_TO_THREE:
        mine = answers.get(e.id, {})
        got = {}
        for k in e.grads:
            r = mine.get(k)
            if r is None:
                got[k] = f"no d{k} in exercise {e.id[0]}'s cells, and no cmp({k!r}, ...) ran"
            elif "error" in r:
                kind, msg, missing = r["error"]
                at = f"cmp({k!r}, ...) in {r['label']}"
                got[k] = f"`{missing}` is not defined yet, at {at}" if missing else f"{at} raised {kind}: {msg}"
            elif first.setdefault(r.get("id", id(r)), e.id) != e.id and e.id in ("2", "3"):
                got[k] = f"`d{k}` still holds your answer to exercise {first[r['id']]}: write exercise {e.id}'s"
            else:
                got[k] = r["dt"] if r["state"] is not None else "the parameters or the batch (C, W1, ..., Xb, Yb) " \
                    "are not in your notebook's variables, so there is nothing to check it against"  # fmt: skip
        at = [r["state"] for r in mine.values() if r.get("state") is not None]
        ex2.ref = refs(at[-1]) if at else refs(0) if rec["states"] else None
        if ex2.ref is None:
            got = {k: v if isinstance(v, str) else "nothing to check it against" for k, v in got.items()}
            ex2.ref = Ref({}, {}, torch.zeros(0), torch.zeros(0))
        print(f"exercise {e.id}: {e.title}")
        ex2.check(e.id, **got)
    return notes


def _replay(start: dict, batches: list, lrs: list) -> tuple[dict, list]:
    """The same steps from the same start on the same batches, with autograd's gradients: exercise 4's reference."""
    p, lossi = {k: start[k].clone().requires_grad_(True) for k in PARAM_NAMES}, []
    for i, ((Xb, Yb), lr) in enumerate(zip(batches, lrs, strict=True)):
        loss, _ = forward(p, Xb, Yb)
        grads = torch.autograd.grad(loss, list(p.values()))
        with torch.no_grad():
            for t, d in zip(p.values(), grads, strict=True):
                t -= (lr if lr is not None else 0.1 if i < 100_000 else 0.01) * d  # the lecture's decay by default
        lossi.append(loss.log10().item())
    return {k: t.detach() for k, t in p.items()}, lossi


def _judge_four(ex3: Exercises, rec: dict, cells: dict) -> list:
    loop = next((r for r in reversed(rec["loops"]) if r["first"] is not None), None)  # the last that took a step
    if loop is None or not loop["start"]:
        why = "no training loop ran (a loop over range(...) that draws its batches with torch.randint)"
        for e in ("4", "4b"):
            ex3.report(e, [Feedback(e, k, NOT_ATTEMPTED, why) for k in EXERCISES[e].grads])
        return []
    label, raised = cells.get(loop["count"], ("a cell", None))[0], rec["raised"].get(loop["count"])
    start, Xb, Yb = loop["start"], loop["first"]["Xb"], loop["first"]["Yb"]
    mine = loop["first"]["grads"]
    why = f"not computed in your loop ({label} raised {raised[0]}: {raised[1]})" if raised else "not computed"
    mine = {k: why if v is None else v for k, v in mine.items()} if isinstance(mine, dict) else mine
    print(f"exercise 4: the whole backward pass: your gradients at the first step of the loop in {label}")
    if not isinstance(Xb, torch.Tensor):  # the loop raised in its first step, before it drew a batch
        ex3.report("4", [Feedback("4", k, NOT_ATTEMPTED, why) for k in PARAM_NAMES])
    else:
        p = {k: start[k].clone().requires_grad_(True) for k in PARAM_NAMES}
        loss, cache = forward(p, Xb, Yb)
        loss.backward()

        def your_loop(params, cache):
            return mine

        ex3.check_backward(your_loop, p, cache)
    steps, total = loop["done"], loop["total"]
    print(f"exercise 4b: the training loop: your parameters after {steps:,} steps" + f" of {total:,}" * bool(total))
    notes = [f"exercise 4's loop cut to its first {steps:,} of {total:,} steps"] if loop["cut"] and total else []
    if total and steps < total and not loop["cut"]:
        stop = f"exercise 4's loop stopped after {steps:,} of its {total:,} steps"
        notes.append(stop + (f": {label} raised {raised[0]}" if raised else ""))
    if loop["first"]["autograd"]:
        notes.append("your loop still runs loss.backward(): the lecture's last step deletes it and trains inside "
                     "torch.no_grad(), with your gradients only")  # fmt: skip
    if not steps:
        fb = Feedback("4b", "params", NOT_ATTEMPTED, "your loop did not finish a step")
        ex3.report("4b", [fb, Feedback("4b", "lossi", NOT_ATTEMPTED, "")])
        return notes
    ref, ref_lossi = _replay(start, loop["batches"], loop["lrs"])
    diff = max((loop["final"][k] - ref[k]).abs().max().item() for k in PARAM_NAMES)
    if diff < 1e-4 and not ex3.solved("4"):  # autograd's parameters, with gradients that are not right: p.grad
        why = "your loop updates with autograd's p.grad, not with your gradients: once they pass, p.data += -lr * grad"
        ex3.report("4b", [Feedback("4b", k, NOT_ATTEMPTED, why if k == "params" else "") for k in ("params", "lossi")])
        return notes
    ex3.check_loop(loop["final"], loop["lossi"][-steps:], None, steps, reference=(ref, ref_lossi, "autograd's", HOW))
    return notes


def judge(answers: dict, cells: dict) -> tuple[list, list]:
    """The lecture notebook's answers (`record_in_kernel`'s record), judged, the checks printing their feedback as they
    go: ([Exercises 02, Exercises 03], notes).
    `cells`: execution count -> (the cell's label, the exercise it is in)."""
    rec, ex2, ex3 = answers, Exercises("02"), Exercises("03")
    rec["raised"] = {int(k): v for k, v in rec["raised"].items()}  # saved with str keys
    notes = _judge_one_to_three(ex2, rec, cells)
    notes = _judge_four(ex3, rec, cells) + notes  # what happened to its loop first
    notes += [f"{cells.get(n, ('a cell',))[0]}'s {what} skipped: the checker runs no processes and provides names.txt"
              for n, what in rec["shell"]]  # fmt: skip
    return [ex2, ex3], notes
