"""Grade a class's notebooks (exercises/02 and 03, the lecture's own) in one go: `make grade SUBMISSIONS=folder`.

Every .ipynb in the folder is recognised as exercise 02 or 03 by its cells, or as the lecture's own notebook by its
code (tools/lecture.py: what it records there, and how it is judged), copied into a temporary folder of its
own (its cwd, NINJA_HOME and TMPDIR, with a copy of names.txt) and run there in a fresh kernel, behind a guard that
refuses writes, deletions, renames and new processes outside that folder; lesson 03's 200,000-step run is cut to
--steps. Cells the grader adds save the learner's answers at each check (exercise 4: what their backward returns on
the grader's own batch). Those are judged here, in the grader's process, by helpers.exercises against a reference
made from the lessons themselves, so nothing a notebook does to its own copy of the checks changes its grade.
The table goes to stdout and, as grades.csv and grades.md, into the folder; given one notebook (`make check`), the
checks' feedback and a verdict an exercise go to stdout, and nothing is written. Not a sandbox: see docs/grading.md.
"""

import argparse
import contextlib
import csv
import inspect
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import lecture  # tools/, beside this script
import nbformat
import torch
from make_exercises import SOURCES, render
from nbclient import NotebookClient
from tqdm import tqdm

from helpers.config import ROOT, home, write_file
from helpers.exercises import EXERCISES, Exercises, Feedback
from helpers.exercises.checks import NOT_ATTEMPTED, stopped, tally

COLUMNS = ["submission", "lesson", *EXERCISES, "right", "first wrong step", "seconds", "error", "note"]
OPTIONS = dict(kernel_name="backprop-ninja", allow_errors=True, shutdown_kernel="immediate")  # the project's kernel
CPUS = len(os.sched_getaffinity(0))  # note: the CPUs this process may use (a container's cpuset), not the host's
LIMIT_MB, PRINTING = 5, threading.Lock()  # what one notebook may print; the checks print, one at a time


def in_kernel(memory: int):
    """The grader's first cell in a notebook is this function's source, then `_grader_snap = in_kernel(memory)`: it
    limits the kernel's memory to `memory` MB, turns on the guard (an audit hook, which no later code can remove) and
    returns `snap`, which the grader's later cells call to save the learner's answers of one exercise, as they are at
    its check, to answers-<exercise>.pt."""
    import os
    import resource
    import sys

    import matplotlib.pyplot  # noqa: F401 (loaded, its config and caches found, before the guard is on)
    import torch

    root, refused, last, save, path = os.getcwd(), [], {}, torch.serialization.save, (str, bytes, os.PathLike)
    torch.set_num_threads(1)  # as the grader: the same float32 rounding, so "exactly right" means the same
    # a runaway cell (an autograd graph growing in an endless loop) fails with an error here, not the machine
    resource.setrlimit(resource.RLIMIT_AS, (memory * 2**20, memory * 2**20))
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    changes = {"open", "os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.replace", "os.link", "os.symlink"}
    changes |= {"os.truncate", "os.chmod", "os.utime", "os.chown", "shutil.rmtree", "os.setxattr", "os.removexattr"}
    spawn = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"}

    def guard(event, args):  # the paths an event names: args[0], and args[1] of rename, replace, link, symlink
        named = [os.fsdecode(a) for a in args[: 1 + (event != "open")] if event in changes and isinstance(a, path)]
        bad = [p for p in map(os.path.realpath, named) if not (p + "/").startswith(root + "/") and p != os.devnull]
        if bad and (event != "open" or args[2] & writes) or event in spawn:
            refused.append(f"{event} {bad[0] if bad else str(args[:2])[:80]}")
            raise PermissionError(f"refused by the grader (its own folder only, no processes): {refused[-1]}")

    def enc(v):  # what torch.load(weights_only=True) takes back, or the name of its type
        if isinstance(v, (dict, list, tuple)):
            return {str(k): enc(x) for k, x in v.items()} if isinstance(v, dict) else [enc(x) for x in v]
        ok = v is None or isinstance(v, (bool, int, float, str, torch.Tensor))
        return (v.detach() if isinstance(v, torch.Tensor) else v) if ok else ("type", type(v).__name__)

    def snap(key, names, call=False, values=None):  # values: what to save instead of the variables `names`
        g, raised, now = globals(), None, {n: globals().get(n, ...) for n in names}
        # a variable still holding the very object it held at another exercise's check: this one's answer not given
        raw = {n: ... if n in last and last[n][1] is v and last[n][0] != key else v for n, v in now.items()}
        raw = raw if values is None else values
        if names and not call:  # where the learner's exercise cell, run just before this one, stopped if it raised
            try:
                raw["_stop"] = __import__("helpers.exercises.checks", fromlist=["raised"]).raised()
            except Exception:
                pass
        last.update((n, (key, v)) for n, v in now.items())  # note: kept alive, so `is` means the same object
        if call:  # exercise 4: the learner's backward on the grader's batch
            try:
                raw["backward"] = torch.no_grad()(g["backward"])(*torch.load(f"{root}/reference.pt", weights_only=True))
            except Exception as e:
                raised = (type(e).__name__, str(e)[:300])
        file = os.path.join(root, f"answers-{key}")
        torch.save({"values": enc(raw), "raised": raised, "refused": refused}, file)  # views kept
        os.replace(file, file + ".pt")

    def audited_save(obj, f, *args, **kwargs):  # note: torch.save writes from C++, unseen by the guard unless told
        return isinstance(f, path) and sys.audit("open", f, "wb", writes) or save(obj, f, *args, **kwargs)

    torch.save = torch.serialization.save = audited_save
    sys.addaudithook(guard)
    return snap


def setup(memory: int) -> str:
    """The grader's first cell."""
    return inspect.getsource(in_kernel) + f"\n_grader_snap = in_kernel({memory})"


def prepare(name: str, base: Path) -> dict:
    """From the trusted exercise notebook: its cells (by id, and by text), each exercise's blank and check cell, its
    full run. From the trusted lesson, run here up to its map (02) or check set-up (03): the checks' reference."""
    # note: as the generator makes it; the teacher's own exercises/ may hold answers
    cells, lesson = nbformat.reads(render(ROOT / "notebooks" / name), as_version=4).cells, name[:2]
    blanks = [(i, c.id) for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    checks = [next(d.id for d in cells[i:] if "check" in d.metadata.get("tags", [])) for i, _ in blanks]
    ex = list(zip([e for e in EXERCISES.values() if e.lesson == lesson], [b for _, b in blanks], checks, strict=True))
    run = [c.id for c in cells if "fallback" in c.metadata.get("tags", [])]
    plan = {"ids": {c.id for c in cells}, "text": {c.source.strip(): c.id for c in cells}, "exercises": ex, "run": run}
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    upto = [c.id for c in cells].index({"02": "map", "03": "check-setup"}[lesson]) + 1
    code, ns = "\n".join(c.source for c in cells[:upto] if c.cell_type == "code" and not c.metadata.get("tags")), {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"notebooks/{name}", "exec"), ns)
    if lesson == "03":  # the learner's backward gets copies of the batch, without autograd's .grad
        torch.save([{k: v.detach() for k, v in ns[d].items()} for d in ("params", "cache")], base / "reference.pt")
    return plan | {"args": (ns["graph"], ns["Xb"], ns["Yb"]) if lesson == "02" else (), "ns": ns}


def instrument(nb, plan: dict, steps: int, memory: int):
    """The learner's notebook with the grader's cells among its own; metadata "grading": what the rows call each."""
    pos, blanks = {c.get("id"): i for i, c in enumerate(nb.cells)}, {b: e.id for e, b, _ in plan["exercises"]}
    for n, c in enumerate(nb.cells):
        c.metadata["grading"] = f"cell {n + 1}" + (f" (exercise {blanks[c.id]})" if c.get("id") in blanks else "")
    new = [(0, setup(memory), "the grader's set-up")]
    new += [(len(nb.cells), "_grader_snap('end', [])", "the grader's last cell")]
    for e, blank, check in plan["exercises"]:  # before the learner's check cell: what that check would see
        names = [] if e.kind == "function" else list(e.grads) if e.kind == "loop" else ["d" + g for g in e.grads]
        at = pos[check] if check in pos else pos.get(blank, len(nb.cells) - 1) + 1
        new += [(at, f"_grader_snap({e.id!r}, {names}, call={e.kind == 'function'})", f"the check of {e.id}")]
    for run in (pos[r] for r in plan["run"] if r in pos):  # the full run, made short
        new += [(run, f"cfg = __import__('dataclasses').replace(cfg, steps={steps})", "the grader's set-up")]
    for i, code, label in sorted(new, reverse=True):
        nb.cells.insert(i, nbformat.v4.new_code_cell(code, metadata={"grading": label}))
    return nb


class Client(NotebookClient):
    """nbclient with a deadline for the whole notebook. Of the outputs it keeps nothing: it counts their bytes and
    notes the errors of the learner's cells."""

    size, at, deadline, errors, memory = 0, None, 0.0, (), 0

    def timeout_func(self, cell) -> int:  # nbclient asks as each cell starts
        self.at = cell
        return max(1, round(self.deadline - time.monotonic()))

    def output(self, outs, msg, display_id, cell_index) -> None:
        c, where = msg["content"], self.nb.cells[cell_index].metadata["grading"]
        self.size += sum(len(str(v)) for v in c.values())
        if msg["msg_type"] == "error" and where.startswith("cell"):
            what = f"{c['ename']}: {(str(c['evalue']) + chr(10)).splitlines()[0]}"
            if c["ename"] == "MemoryError" or "can't allocate memory" in what:  # the kernel's limit, in_kernel's
                what = f"out of memory: {self.memory:,} MB, the limit of one notebook, reached"
            self.errors += (f"{what.replace(':', f' in {where}:', 1)}"[:200],)


def recognise(nb, plan: dict) -> str:
    """Which notebook it is: exercise 02 or 03 by its cells' ids (~1 for its own, ~0.3 for the other), else the
    lecture's by its code."""
    for c in (c for c in nb.cells if not c.get("id")):  # saved without ids (as Colab does): known by their text
        c.id = next((p["text"][c.source.strip()] for p in plan.values() if c.source.strip() in p["text"]), "")
    score = {k: len((ids := {c.id for c in nb.cells}) & p["ids"]) / len(ids | p["ids"]) for k, p in plan.items()}
    if score[lesson := max(score, key=score.get)] >= 0.5:
        return lesson
    if lecture.is_lecture(nb):
        return "lecture"
    raise LookupError("its cells match none of them")


def execute(sub: Path, folder: Path, base: Path, args, plan: dict) -> tuple:
    """Run one submission in a kernel of its own, in a temporary folder: (the row so far, its lesson, its answers,
    {execution count: what the rows call its cell})."""
    t0, row = time.monotonic(), {"submission": str(sub.relative_to(folder))}
    try:
        nb = nbformat.reads(sub.read_bytes().decode("utf-8", "replace"), as_version=4)
        lesson = recognise(nb, plan)
    except Exception as e:
        why = f"{type(e).__name__}: {str(e)[:100]}"
        return row | {"error": f"not exercise notebook 02 or 03, nor the lecture's ({why})"}, None, {}, {}
    if lesson == "lecture":
        nb = lecture.instrument(nb, setup(args.memory), args.steps)
    else:
        nb = instrument(nb, plan[lesson], args.steps, args.memory)
    shutil.copytree(base, mine := (work := Path(tempfile.mkdtemp(prefix="grade-"))) / "home")  # names.txt, ...
    client = Client(nb, resources={"metadata": {"path": str(mine)}}, **OPTIONS)
    client.memory = args.memory
    env = {"NINJA_HOME": str(mine), "TMPDIR": str(mine), "IPYTHONDIR": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    client.deadline, problems = time.monotonic() + args.timeout, []
    try:
        client.execute(env=os.environ | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except Exception as e:
        what = f"timed out after {args.timeout:g} s" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
        problems += [f"{what} in {client.at.metadata['grading'] if client.at else 'its start'}"]
    problems += [f"{e} (and {len(client.errors) - 1} more)" if client.errors[1:] else e for e in client.errors[:1]]
    problems += [f"{client.size / 1e6:.0f} MB of output (limit: {LIMIT_MB} MB)"] * (client.size > LIMIT_MB * 1e6)
    answers = {f.stem[8:]: torch.load(f, weights_only=True) for f in mine.glob("answers-*.pt")}
    if refused := dict.fromkeys(r for a in answers.values() for r in a["refused"]):
        problems += ["refused (outside its folder, or a process): " + "; ".join(list(refused)[:6])]
    shutil.rmtree(work, ignore_errors=True)
    row |= {"lesson": lesson, "seconds": f"{time.monotonic() - t0:.1f}", "error": "; ".join(problems)}
    cells = {c.execution_count: c.metadata["grading"] for c in client.nb.cells if c.get("execution_count")}
    return row, lesson, answers, cells


def decode(v):  # what torch.save could not keep comes back as something of its type (`...` as itself)
    if isinstance(v, (dict, list)):
        return {k: decode(x) for k, x in v.items()} if isinstance(v, dict) else [*map(decode, v)]
    return (... if v[1] == "ellipsis" else type(str(v[1]), (), {})()) if isinstance(v, tuple) else v


def judge(row: dict, lesson: str, answers: dict, ref: dict, steps: int, cells: dict, verbose=False) -> dict:
    """The answers, judged by helpers.exercises' checks against the reference: the row, complete. `verbose`: the
    checks' feedback printed, as in the notebook."""
    got = {k: decode(a["values"]) for k, a in answers.items()}
    with PRINTING, contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()):
        if lesson == "lecture":
            exs, notes = lecture.judge(got.get("lecture"), cells)
        else:
            exs, notes = [_judge_exercises(lesson, answers, got, ref)], []
    if lesson == "03":
        notes.append(f"its {ref['ns']['cfg'].steps:,}-step run cut to {steps:,} steps")
    return summarise(row | {"note": "; ".join(filter(None, notes))}, exs)


def _judge_exercises(lesson: str, answers: dict, got: dict, ref: dict) -> Exercises:
    ex, ns = Exercises(lesson, *ref["args"]), ref["ns"]

    def backward(params, cache):  # the learner's, as it ran in the notebook: what it returned, or raised again
        if r := answers["4"]["raised"]:
            raise type(r[0], (NotImplementedError if r[0] == "NotImplementedError" else Exception,), {})(r[1])
        return got["4"]["backward"]

    for e, _, _ in ref["exercises"]:  # the catalogue's, in its order
        try:
            if (mine := got[e.id]) and e.kind == "grads":
                ex.check(e.id, **{g: mine.get("d" + g, ...) for g in e.grads} | stopped(e, mine.get("_stop")))
            elif e.kind == "function":
                ex.check_backward(backward, ns["params"], ns["cache"])
            else:
                ex.check_loop(mine["params"], mine["lossi"], ns["cfg"])
        except Exception as err:
            why = (NOT_ATTEMPTED, "not reached") if e.id not in got else ("error", f"not checkable: {err}")
            ex.results.update({(e.id, g): Feedback(e.id, g, *why) for g in e.grads})
    return ex


def answers(ex: Exercises, e: str) -> list[Feedback]:
    """The feedback on exercise e's gradients, in the order they were checked; one never checked: not attempted."""
    mine = [fb for (x, _), fb in ex.results.items() if x == e]
    return mine + [Feedback(e, g, NOT_ATTEMPTED) for g in ex.exercises[e].grads if (e, g) not in ex.results]


def verdict(fbs: list[Feedback]) -> str:
    """done (every gradient right), wrong (one or more wrong), `N of M` (N right, none wrong, the rest not attempted)
    or - (none attempted)."""
    wrong, right = any(not f.passed and f.status != NOT_ATTEMPTED for f in fbs), sum(f.passed for f in fbs)
    return "done" if right == len(fbs) else "wrong" if wrong else f"{right} of {len(fbs)}" if right else "-"


def summarise(row: dict, exs: list) -> dict:
    """The row's exercise columns, the gradients right, and the first wrong one (in the order they are computed);
    and, for `make check`, a line an exercise."""
    fbs, row["verdicts"] = [fb for ex in exs for fb in ex.results.values()], []
    for checks, e in ((ex, e) for ex in exs for e in ex.exercises.values()):
        mine = answers(checks, e.id)
        row[e.id] = word = verdict(mine)
        wrong = next((f for f in mine if not f.passed and f.status != NOT_ATTEMPTED), None)
        line = f"{e.id:3s} {'part' if ' of ' in word else word:5s} {tally(mine)} ({e.title})"
        row["verdicts"].append(line + (f"; first wrong: {wrong.var} ({wrong.status})" if wrong else ""))
    f = next((fb for fb in fbs if not fb.passed and fb.status != NOT_ATTEMPTED), None)  # the first
    row["right"] = f"{sum(fb.passed for fb in fbs)}/{sum(len(e.grads) for ex in exs for e in ex.exercises.values())}"
    row["first wrong step"] = f and f"{f.exercise} {f.var} ({f.status}): {f.hint or f.detail}"
    return row


def per_student(rows: list[dict]) -> list[list[str]]:
    """A total for each student, that is each subfolder of the class's folder: notebooks, exercises done (in any of
    them), gradients right (summed over them)."""
    by: dict = {}
    for r in (r for r in rows if "/" in r["submission"]):
        by.setdefault(r["submission"].split("/")[0], []).append(r)
    out = [["student", "notebooks", "exercises done", "right"]]
    for student, mine in sorted(by.items()):
        done = [e for e in EXERCISES if any(r.get(e) == "done" for r in mine)]
        right = [[int(x) for x in r["right"].split("/")] for r in mine if r.get("right")]
        right = f"{sum(a for a, _ in right)}/{sum(b for _, b in right)}" if right else ""
        exercises = f"{len(done)} of {len(EXERCISES)}" + f" ({' '.join(done)})" * bool(done)
        out.append([student, str(len(mine)), exercises, right])
    return out if len(out) > 1 else []


def report(rows: list[dict], folder: Path, wall: float) -> None:
    """The table and the totals per student: on stdout (long cells cut), and whole in grades.csv and grades.md."""
    table, totals = [COLUMNS] + [[str(r.get(c) or "") for c in COLUMNS] for r in rows], per_student(rows)
    tail = f"\n{len(rows)} submissions graded in {wall:.0f} s (wall time).\n"
    csv.writer(buf := io.StringIO(), lineterminator="\n").writerows(table)
    write_file(folder / "grades.csv", buf.getvalue().encode())
    md = "".join(markdown(t) + "\n" for t in (table, totals) if t)
    write_file(folder / "grades.md", (md + tail).encode())
    for t in (t for t in (table, totals) if t):
        short = [[v if len(v) <= 60 else v[:59] + "…" for v in row] for row in t]
        widths = [max(len(row[i]) for row in short) for i in range(len(t[0]))]
        lines = ("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in short)
        print(*lines, "", sep="\n")
    print(tail.strip() + f"\nThe table, whole: {folder / 'grades.csv'} and {folder / 'grades.md'}")


def markdown(table: list[list[str]]) -> str:
    rows = [table[0], ["---"] * len(table[0])] + [[v.replace("|", "\\|") for v in t] for t in table[1:]]
    return "\n".join("| " + " | ".join(t) + " |" for t in rows) + "\n"


def check_report(row: dict) -> None:
    """`make check`: after the checks' own feedback, a verdict line an exercise, the notes and errors."""
    print("", *(["verdict:", *(f"  {v}" for v in row.get("verdicts", []))] if row.get("lesson") else []), sep="\n")
    for what in ("note", "error"):
        print(*(f"{what}: {v}" for v in filter(None, str(row.get(what) or "").split("; "))), sep="\n")
    print(f"checked in {row.get('seconds') or '-'} s ({row.get('lesson') or 'not run'})")


WHAT = {"02": "exercise notebook 02", "03": "exercise notebook 03", "lecture": "the lecture's notebook"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", type=Path, help="a folder of submissions (every .ipynb in it and its subfolders), graded "
                   "into a table; or one notebook, checked with every hint (make check)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=300, help="seconds one notebook may run (default 300)")
    p.add_argument("--steps", type=int, default=1000, help="lesson 03's full run, cut to (default 1000) steps")
    p.add_argument("--jobs", type=int, default=CPUS, help="notebooks graded side by side (default: the CPUs)")
    p.add_argument("--memory", type=int, default=4096, help="MB of memory one notebook's kernel may use (default 4096)")
    args = p.parse_args(argv)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # note: nbclient leaves a task behind at each time-out
    torch.set_num_threads(1)  # as in the notebooks' kernels
    one, path, names = args.path.is_file(), args.path.resolve(), home() / "names.txt"
    folder = path.parent if one else path
    subs = [path] if one else [s for s in sorted(folder.rglob("*.ipynb")) if "/." not in f"/{s.relative_to(folder)}"]
    if not subs or not names.is_file():
        sys.exit(f"grade: no .ipynb files in {args.path}" if not subs else f"grade: no {names}: git checkout names.txt")

    def grade(sub: Path) -> dict:  # one bad submission never stops the others
        try:
            row, lesson, answers, cells = execute(sub, folder, base, args, plan)
            if one and lesson:
                print(f"{sub.name}: {WHAT[lesson]}, run top to bottom in a fresh kernel, in a folder of its own\n")
            return judge(row, lesson, answers, plan.get(lesson), args.steps, cells, verbose=one) if lesson else row
        except Exception as e:
            return {"submission": str(sub.relative_to(folder)), "error": f"not graded ({type(e).__name__}: {e})"}

    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:  # what every notebook's folder starts with
        base, t0 = Path(shutil.copy(names, tmp)).parent, time.monotonic()
        os.environ.update(NINJA_HOME=tmp, MPLBACKEND="Agg")
        plan = {name[:2]: prepare(name, base) for name in SOURCES}
        with ThreadPoolExecutor(args.jobs) as pool:  # the bar on stderr, as each notebook is done
            futures = [pool.submit(grade, sub) for sub in subs]
            for done in tqdm(as_completed(futures), total=len(subs), desc="grading", unit="notebook", disable=one):
                if not one:  # a line a notebook as it is done, above the bar
                    row = done.result()
                    what = f"{row['lesson']}, {row['right']} right, {row['seconds']} s" if row.get("lesson") else ""
                    tqdm.write(f"{row['submission']}: {what or row.get('error')}"[:110], file=sys.stderr)
            rows = [f.result() for f in futures]
    check_report(rows[0]) if one else report(rows, folder, time.monotonic() - t0)


if __name__ == "__main__":
    main()
