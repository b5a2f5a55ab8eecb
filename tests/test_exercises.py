"""The exercise notebooks and their checks. exercises/ is what the lessons generate (in what the generator
owns, so a learner's answers never fail `make test`); the notebooks run untouched and filled in; and each
typical mistake, made by editing a solution, gets the hint that names its real cause (issue #18)."""

import json
import linecache
import re
import sys

import nbformat
import pytest
import torch
from conftest import lesson_namespace, real_home, script
from nbclient import NotebookClient

from helpers import Config, manual_backward
from helpers.config import ROOT
from helpers.exercises import EXERCISES, Exercises

gen = script("make_exercises")
NB02, NB03 = gen.SOURCES


def solutions(name: str) -> dict[str, str]:
    """{cell id: source} of a lesson's solution cells (their blanks in exercises/ have the same ids)."""
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    return {c.id: c.source for c in cells if "solution" in gen.tags(c)}


def said(capsys) -> str:
    """What the checks printed, its lines (wrapped to fit a notebook panel) joined back into one."""
    return " ".join(capsys.readouterr().out.split())


def solution(exercise: str) -> str:
    e = EXERCISES[exercise]
    ids = [x.id for x in EXERCISES.values() if x.lesson == e.lesson]
    return list(solutions(NB02 if e.lesson == "02" else NB03).values())[ids.index(exercise)]


# ------------------------------------------------------------------------------------- generated, and owned


@pytest.mark.parametrize("name", gen.SOURCES)
def test_exercises_are_what_the_lessons_generate(name, tmp_path):
    text = gen.render(ROOT / "notebooks" / name)
    assert gen.stale(text, ROOT / "exercises" / gen.target(name)) is None, "run `make exercises`, commit exercises/"
    nb = nbformat.reads(text, as_version=4)  # a learner's answers and outputs are theirs, not the generator's
    blank = next(c for c in nb.cells if "exercise" in gen.tags(c))
    blank.source, nb.cells[3].outputs = "dlogprobs = torch.zeros(1)", [nbformat.v4.new_output("stream", text="hi")]
    nbformat.write(nb, mine := tmp_path / gen.target(name))
    assert gen.stale(text, mine) is None and mine.name.startswith(name[:3]) and mine.name.endswith("_exercise.ipynb")
    assert gen.main(["--out", str(tmp_path)]) == 0 and gen.stale(text, mine) is None  # kept, not rewritten
    nb.cells[1].source = "a lesson that changed"
    nbformat.write(nb, mine)
    assert gen.stale(text, mine) == f"cell {nb.cells[1].id} differs from what the lessons generate"
    assert gen.main(["--out", str(tmp_path)]) == 2  # it holds the learner's work: refused without --force
    assert gen.main(["--out", str(tmp_path), "--force"]) == 0 and mine.read_text() == text


def test_the_generator_refuses_a_lesson_out_of_step_with_the_catalogue(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / NB02, as_version=4)
    check = next(c for c in nb.cells if "check" in gen.tags(c))
    check.source = "\n".join(check.source.splitlines()[1:])
    with pytest.raises(gen.GeneratorError, match="EXERCISES"):
        gen.build(nbformat.write(nb, tmp_path / NB02) or tmp_path / NB02)
    nb = nbformat.read(ROOT / "notebooks" / NB02, as_version=4)
    next(c for c in nb.cells if "needs-solution" in gen.tags(c)).metadata["tags"] = []
    with pytest.raises(gen.GeneratorError, match="needs-solution"):
        gen.build(nbformat.write(nb, tmp_path / NB02) or tmp_path / NB02)


# ------------------------------------------------------------------------------- the notebooks, executed


def execute(nb, tmp_path, monkeypatch, names) -> dict[str, str]:
    """Run a generated exercise notebook in a kernel of this interpreter; {cell id: what it printed}."""
    spec = tmp_path / "jupyter" / "kernels" / "this"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "this", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(
        nb, kernel_name="this", timeout=600, resources={"metadata": {"path": str(ROOT / "exercises")}}
    ).execute()
    return {c.id: "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"}


def generated(name: str, filled: bool):
    nb = gen.build(ROOT / "notebooks" / name)
    for c in nb.cells:
        if filled and "exercise" in gen.tags(c):
            c.source = solutions(name)[c.id]
    if name == NB03:  # up to the last check, and the progress table: the 200,000 steps are the lesson's to run
        last = max(i for i, c in enumerate(nb.cells) if {"check", "needs-solution"} & set(gen.tags(c)))
        nb.cells = nb.cells[: last + 1] + nb.cells[-1:]
    return nb


@pytest.mark.parametrize("name", gen.SOURCES)
def test_untouched_exercises_run_to_the_end(name, tmp_path, monkeypatch, names):
    nb = generated(name, filled=False)
    out = execute(nb, tmp_path, monkeypatch, names)
    checks = [out[c.id] for c in nb.cells if "check" in gen.tags(c)]
    assert checks and all("not attempted yet" in x and "✗" not in x for x in checks)
    assert all(
        out[c.id].startswith("skipped: it runs once your answer") for c in nb.cells if "needs-solution" in gen.tags(c)
    )
    assert " 0 of " in out["exercise-progress"]


@pytest.mark.parametrize("name", gen.SOURCES)
def test_the_lessons_answers_pass_every_check(name, tmp_path, monkeypatch, names):
    out = execute(generated(name, filled=True), tmp_path, monkeypatch, names)
    n = sum(len(e.grads) for e in EXERCISES.values() if e.lesson == name[:2])
    assert f"{n} of {n} gradients right" in out["exercise-progress"] and "skipped" not in "".join(out.values())


# ------------------------------------------------------------------------------- the hints, in-process


@pytest.fixture(scope="module")
def ns02(tmp_path_factory):
    """Lesson 02 up to its map, then every solution: the learner's namespace, and its checks."""
    ns = lesson_namespace(NB02, "map", real_home(tmp_path_factory))
    for e in ("1a", "1b", "1c", "1d", "2", "3"):
        exec(solution(e), ns)
    return ns


def attempt(ns02, exercise, old, new):
    """Exercise `exercise` checked after its solution was typed with `old` replaced by `new`."""
    assert old in solution(exercise), old
    ns, ex = dict(ns02), Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
    for e in ("1a", "1b", "1c", "1d", "2", "3"):  # every exercise up to this one, the earlier ones right
        try:
            exec(solution(e).replace(old, new, 1) if e == exercise else solution(e), ns)
        except RuntimeError:  # the learner's cell stops at a line that can't run; they run the check anyway
            pass
        fbs = ex.check(e, **{g: ns["d" + g] for g in EXERCISES[e].grads})
        if e == exercise:
            return {fb.name: fb for fb in fbs}


@pytest.mark.parametrize(
    "exercise, old, new, name, mistake, fact",
    [
        ("3", "n / (n - 1) * ", "", "hprebn", "bessel", "Bessel"),
        ("1c", "1.0 / (n - 1)", "1.0 / n", "bndiff2", "bessel", "divides by n-1"),
        ("1c", "1.0 / (n - 1)", "1.0 / n", "bndiff", "inherited", "dbndiff2, which this step uses, is wrong"),
        ("2", "dlogits /= n", "", "logits", "missing_1/n", "1/n is missing"),
        ("1c", "(-0.5 * (bnvar", "(0.5 * (bnvar", "bnvar", "sign", "opposite sign"),
        ("1b", "(1.0 - h**2)", "(1.0 - hpreact**2)", "hpreact", "tanh_input", "with its output h"),
        ("1b", "db2 = dlogits.sum(0)", "db2 = dlogits", "b2", "broadcast", "sums over"),
        ("1b", "dW2 = h.T @ dlogits", "dW2 = dlogits.T @ h", "W2", "transposed", "looks transposed"),
        ("1a", "dcounts += torch.ones_like(counts) * dcounts_sum", "", "counts", "one_path",
         "add the part through counts_sum"),
        # issue 25, a tensor used twice: `=` where `+=` belongs, or the `+=` line left out: the hint names the part
        # missing, whichever it is; a part with its sign flipped names that part's line
        ("1a", "dcounts += torch.ones_like", "dcounts = torch.ones_like", "counts", "one_path",
         "only its part through counts_sum; add the part through probs (+=)"),
        ("1a", "dlogits += F.one_hot", "dlogits = F.one_hot", "logits", "one_path", "add the part through norm_logits"),
        ("1c", "dbndiff += (2", "dbndiff = (2", "bndiff", "one_path", "add the part through bnraw"),
        ("1c", "dhprebn += 1.0", "dhprebn = 1.0", "hprebn", "one_path", "add the part through bndiff (+=)"),
        ("1c", "dhprebn += 1.0", "# dhprebn += 1.0", "hprebn", "one_path", "add the part through bnmeani"),
        ("1a", "* dcounts_sum\n", "* -dcounts_sum\n", "counts", "path", "`counts_sum = counts.sum(1, ...)`"),
        ("1d", "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))",
         "dC = torch.zeros_like(C)\ndC[Xb] = demb", "C", "dC_assign", "don't assign"),
        # issue #18: bnvar where bnvar_inv belongs; a second name instead of a copy; keepdim lost two steps back
        ("1c", "dbndiff = bnvar_inv * dbnraw", "dbndiff = bnvar * dbnraw", "bndiff", "path",
         "`bnraw = bndiff * bnvar_inv`"),
        ("1c", "dhprebn = dbndiff.clone()", "dhprebn = dbndiff", "bndiff", "alias", ".clone()"),
        ("1a", "(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(1)", "counts_sum", "inherited",
         "dcounts_sum_inv, which this step uses, has the wrong shape"),
        ("1a", "dprobs = (1.0 / probs)", "dprobs = (2.0 / probs)", "counts", "inherited",
         "dprobs and dcounts_sum, which this step uses, are wrong: fix them first"),
    ],
)  # fmt: skip
def test_a_typical_mistake_gets_the_hint_of_its_real_cause(ns02, exercise, old, new, name, mistake, fact):
    fb = attempt(ns02, exercise, old, new)[name]
    assert not fb.passed and fb.mistake == mistake and fact in fb.hint, fb


@pytest.mark.parametrize("exercise", ["1a", "1c"])
def test_blanks_can_be_filled_top_to_bottom(ns02, exercise):
    mine = {"d" + g for g in EXERCISES[exercise].grads}
    ns, slots = {k: v for k, v in ns02.items() if k not in mine}, gen.slots(solution(exercise), EXERCISES[exercise])
    assert any(line.startswith("# d") and "+= ..." in line for line, _ in slots)  # a tensor used twice: two slots
    for _, lines in slots:
        exec(lines, ns)  # a NameError here: a slot comes before what it needs
    ex = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
    assert all(fb.passed for fb in ex.check(exercise, **{g[1:]: ns[g] for g in mine}))


def test_what_the_lecture_types_is_accepted_and_a_hint_never_shows_the_answer(ns02, capsys):
    fbs = attempt(ns02, "1c", "dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)")
    assert all(fb.passed for fb in fbs.values()) and "note the shape" in fbs["bnmeani"].detail
    assert attempt(ns02, "1a", "dlogits += F.one_hot", "_ = F.one_hot")["logits"].passed  # the max path is ~1e-9
    attempt(ns02, "2", "dlogits /= n", "dlogits /= 2 * n")
    out = capsys.readouterr().out
    assert "softmax" not in out.split("dlogits")[-1] and f"{ns02['logits'].grad[0, 0].item():.4f}" not in out


def test_each_check_judges_its_own_cell(ns02):
    ex, ns = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"]), dict(ns02)
    ex.check("1a", **{g: ns["d" + g] for g in EXERCISES["1a"].grads})
    [fb] = ex.check("2", logits=ns["dlogits"])  # exercise 2's cell stopped before assigning dlogits
    assert fb.status == "not attempted yet" and "still holds your answer to exercise 1a" in fb.detail
    assert ex.check("2", logits=...)[0].status == "not attempted yet" and not ex.solved("2")
    assert ex.check("2", logits=[[0.0]])[0].status == "wrong type"


@pytest.fixture(scope="module")
def ns03():
    """Lesson 03's check set-up: the lesson's model, one batch, autograd's gradients in params[k].grad."""
    cfg = Config()
    g = torch.Generator().manual_seed(cfg.seed)
    from helpers import forward, init_params

    params = {k: v.requires_grad_(True) for k, v in init_params(cfg, g).items()}
    Xb, Yb = torch.randint(0, 27, (32, 3), generator=g), torch.randint(0, 27, (32,), generator=g)
    loss, cache = forward(params, Xb, Yb)
    loss.backward()
    ns = {"torch": torch, "F": torch.nn.functional, "PARAM_NAMES": __import__("helpers").PARAM_NAMES}
    return {"params": params, "cache": cache, "ns": ns}


def backward(ns03, old="", new=""):
    src = solution("4")
    assert old in src
    ns, src = dict(ns03["ns"]), src.replace(old, new, 1)
    linecache.cache["cell-03"] = (len(src), None, src.splitlines(True), "cell-03")  # as Jupyter keeps a cell's lines
    exec(compile(src, "cell-03", "exec"), ns)
    return ns["backward"]


def check4(ns03, fn):
    return {fb.name: fb for fb in Exercises("03").check_backward(fn, ns03["params"], ns03["cache"])}


def test_exercise_4_accepts_the_lectures_forms(ns03):
    assert all(fb.passed for fb in check4(ns03, backward(ns03)).values())
    ret = next(line.strip() for line in solution("4").splitlines() if line.strip().startswith("return"))
    as_list = backward(ns03, ret, "return [dC, dW1, db1, dW2, db2, dbngain, dbnbias]")
    assert all(fb.passed for fb in check4(ns03, as_list).values())
    fbs = check4(
        ns03, backward(ns03, "dbngain = (bnraw * dhpreact).sum(0, keepdim=True)", "dbngain = (bnraw * dhpreact).sum(0)")
    )
    assert all(fb.passed for fb in fbs.values()) and "note the shape" in fbs["bngain"].detail  # and train takes it


def test_exercise_4_names_the_first_wrong_step_everywhere(ns03, capsys):
    fbs = check4(ns03, backward(ns03, "(1.0 - h**2)", "(1.0 - h)"))  # issue #18: tanh written as 1 - h
    assert fbs["W2"].passed and fbs["bngain"].mistake == fbs["bnbias"].mistake == "tanh_no_square"
    assert all(fbs[k].mistake == "inherited" and "tanh step" in fbs[k].hint for k in ("W1", "C"))
    assert "most likely in the tanh step" in said(capsys)
    fbs = check4(ns03, backward(ns03, "n / (n - 1) * ", ""))
    assert fbs["W1"].mistake == "bessel" and fbs["b1"].passed and fbs["C"].mistake == "inherited"  # b1: ~0 anyway
    fbs = check4(ns03, backward(ns03, "dh = dlogits @ W2.T", "dh = dlogits @ W2"))
    assert fbs["C"].status == "error" and re.search(r"line \d+: `dh = dlogits @ W2`", fbs["C"].detail)
    assert check4(ns03, lambda p, c: [1, 2])["C"].status == "wrong type"


def test_a_list_in_another_order_is_said_to_be_one(ns03, capsys):
    """Issue 25: the right gradients in another order than the lecture's list: the check says so, and which order it
    has, by their values, or by their shapes where a value is off (train's side: tests/test_train.py)."""
    ret = next(line.strip() for line in solution("4").splitlines() if line.strip().startswith("return"))
    fbs = check4(ns03, backward(ns03, ret, "return [dW1, dW2, db1, db2, dC, dbnbias, dbngain]"))
    out = said(capsys)
    assert {fb.status for fb in fbs.values()} == {"wrong order"} and "start with" not in out
    assert "the right gradients in another order: [dW1, dW2, db1, db2, dC, dbnbias, dbngain]" in out
    check4(ns03, backward(ns03, ret, "return [dW1, dW2, db1, db2, dC, 2 * dbnbias, dbngain]"))
    out = said(capsys)
    assert "shapes say they are in another order: [dW1, dW2, db1, db2, dC, dbngain or dbnbias," in out
    fbs = check4(ns03, backward(ns03, ret, "return [dC, dW1, db1, dW2, db2, dbnbias, dbngain]"))  # same shapes: values
    assert fbs["bngain"].status == "wrong order" and "[dC, dW1, db1, dW2, db2, dbnbias, dbngain]" in fbs["C"].detail


def loop(ns: dict, ex: Exercises, *edits, backward=manual_backward, steps=100) -> dict:
    """The lecture's training loop (exercise 4b's solution) for `steps` steps, with `edits` made to it, checked."""
    src = solution("4b").replace("range(1000)", f"range({steps})")
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    exec(src, ns := dict(ns, backward=backward))
    return {fb.name: fb for fb in ex.check_loop(ns["params"], ns["lossi"], ns["cfg"], steps=steps)}


@pytest.fixture
def ns4b(names, ns03):
    """Lesson 03's names for exercise 4b, and an Exercises whose exercise 4 passes."""
    from helpers import forward, init_params, load_splits, make_generator

    cfg, ex = Config(), Exercises("03")
    ex.check_backward(manual_backward, ns03["params"], ns03["cache"])
    data = load_splits(cfg)
    ns = dict(torch=torch, cfg=cfg, Xtr=data.Xtr, Ytr=data.Ytr, forward=forward, init_params=init_params)
    return ns | {"make_generator": make_generator}, ex


def test_exercise_4b_checks_the_loop_and_what_it_records(ns4b, ns03):
    ns, ex = ns4b
    assert all(fb.passed for fb in loop(ns, ex).values())
    fbs = loop(ns, ex, ("loss.log10().item()", "loss.item()"))  # issue #18: lossi.append(loss.item())
    assert fbs["params"].passed and fbs["lossi"].mistake == "log10" and "log10()" in fbs["lossi"].hint
    # issue 25: batches drawn without g; then a backward that fails exercise 4: the cause, never log10
    fbs = loop(ns, ex, ("(cfg.batch_size,), generator=g)", "(cfg.batch_size,))"))
    assert not fbs["params"].passed and "generator=g" in fbs["params"].hint and "exercise 4" not in fbs["params"].hint
    assert fbs["lossi"].mistake == "inherited" and "log10" not in fbs["lossi"].hint
    wrong = backward(ns03, "db2 = dlogits.sum(0)", "db2 = 2 * dlogits.sum(0)")
    ex.check_backward(wrong, ns03["params"], ns03["cache"])
    assert not ex.solved("4")
    fbs = loop(ns, ex, backward=wrong)
    assert "exercise 4's check" in fbs["params"].hint and "generator=g" not in fbs["params"].hint
    assert fbs["lossi"].mistake == "inherited" and "log10" not in fbs["lossi"].hint


def test_exercise_4b_judges_params_whenever_the_loop_ran(ns4b, capsys):
    """Issue 25: a loop that keeps no lossi still has its params judged, right or wrong; untouched, neither is."""
    ns, ex = ns4b
    fbs = loop(ns, ex, ("lossi.append(loss.log10().item())", "pass"))
    assert fbs["params"].passed and fbs["lossi"].status == "not attempted yet" and "loop ran" in fbs["lossi"].detail
    assert "1 of 2 right, 1 not attempted" in said(capsys)
    fbs = loop(ns, ex, ("lossi.append(loss.log10().item())", "pass"), ("-lr * grads", "lr * grads"))
    assert fbs["params"].status == "wrong values" and fbs["lossi"].status == "not attempted yet"
    untouched = solution("4b").split("with torch.no_grad()")[0]  # the set-up lines the blank keeps
    exec(untouched, ns)
    assert {fb.status for fb in ex.check_loop(ns["params"], ns["lossi"], ns["cfg"])} == {"not attempted yet"}
    assert ex.check_loop({}, [], ns["cfg"])[0].status == "not attempted yet"


def test_partly_attempted_is_not_wrong(ns02, capsys):
    """Issue 25: "N of M right, K not attempted", in the summary and the progress table; never "done"."""
    ex = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
    fbs = ex.check(
        "1c", **{g: ns02["d" + g] if g in ("bnvar_inv", "bnvar", "bndiff2") else ... for g in EXERCISES["1c"].grads}
    )
    assert [fb.status for fb in fbs].count("not attempted yet") == 3 and not ex.solved("1c")
    ex.progress()
    out = said(capsys)
    assert re.search(r"1c \(batch norm, step by step\): 3 of 6 right, 3 not attempted(?!:)", out)  # not done
    assert "Progress, lesson 02: 3 of 28 gradients right, 3 not attempted, 22 not checked;" in out


def test_a_cell_that_raised_before_its_check_gets_the_line_and_its_cause(ns02, tmp_path, monkeypatch):
    """Issue 25, case 8: 1a written out in full, one keepdim lost: the cell raises a broadcasting error three lines
    further down, and its check (no NameError for what the cell never assigned) names the line that raised, blames
    the lost keepdim, and does not judge what the cell never reached. In an IPython shell, as in a notebook."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config as Traits

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    shell = InteractiveShell.instance(config=Traits({"HistoryManager": {"enabled": False}}))
    try:
        shell.user_ns.update({k: v for k, v in ns02.items() if not k.startswith("d")})
        shell.user_ns["ex"] = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
        cell = solution("1a").replace("(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(1)")
        assert shell.run_cell(cell).error_in_exec is not None
        shell.run_cell('fbs = ex.check("1a")')  # the exercise notebooks' check cell
        fbs = {fb.name: fb for fb in shell.user_ns["fbs"]}
    finally:
        InteractiveShell.clear_instance()
    assert fbs["probs"].passed and fbs["counts_sum_inv"].mistake == "keepdim"
    raised = fbs["counts"]  # `dcounts += ...` can't broadcast dcounts_sum, now (32, 32)
    assert raised.status == "error" and "RuntimeError at line 7, `dcounts += " in raised.detail
    assert raised.mistake == "inherited" and "dcounts_sum" in raised.hint
    assert {fbs[k].detail for k in ("norm_logits", "logits")} == {"not reached: your cell stopped at line 7, before it"}
