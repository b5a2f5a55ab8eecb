"""The exercise notebooks and their checks. exercises/ is what the lessons generate (in what the generator
owns, so a learner's answers never fail `make test`); the notebooks run untouched and filled in; a typical
mistake, made by editing a solution, is told by its key, and an answer is judged against autograd's."""

import linecache

import nbformat
import pytest
import torch
from conftest import lesson_namespace, real_home, script
from nbclient import NotebookClient

from helpers import Config, forward, init_params, load_splits, make_generator, manual_backward
from helpers.config import ROOT
from helpers.exercises import EXERCISES, Exercises
from helpers.exercises.checks import WIDTH
from helpers.model import PARAM_NAMES, STEPS, architecture

gen = script("make_exercises")
NB02, NB03 = gen.SOURCES
ONE_TO_THREE = [e for e in EXERCISES if EXERCISES[e].lesson == "02"]  # lesson 02's: 1a-1d, 2, 3


def solutions(name: str) -> dict[str, str]:
    """{cell id: source} of a lesson's solution cells (their blanks in exercises/ have the same ids)."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return {c.id: c.source for c in nb.cells if "solution" in gen.tags(c)}


def solution(exercise: str) -> str:
    lesson = EXERCISES[exercise].lesson
    ids = [e.id for e in EXERCISES.values() if e.lesson == lesson]
    return list(solutions(NB02 if lesson == "02" else NB03).values())[ids.index(exercise)]


def said(capsys) -> str:
    """What the checks printed (each line within a notebook panel), joined back into one line."""
    out = capsys.readouterr().out
    assert all(len(line) <= WIDTH + 1 for line in out.splitlines()), out
    return " ".join(out.split())


@pytest.mark.parametrize("name", gen.SOURCES)
def test_exercises_are_what_the_lessons_generate_and_keep_the_learners_work(name, tmp_path):
    text = gen.render(ROOT / "notebooks" / name)
    assert gen.stale(text, ROOT / "exercises" / gen.target(name)) is None, "run `make exercises`, commit exercises/"
    nb = nbformat.reads(text, as_version=4)  # a learner's answers and outputs are theirs, not the generator's
    next(c for c in nb.cells if "exercise" in gen.tags(c)).source = "dlogprobs = torch.zeros(1)"
    nbformat.write(nb, mine := tmp_path / gen.target(name))
    assert gen.stale(text, mine) is None and gen.main(["--out", str(tmp_path)]) == 0  # kept, not rewritten
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


def execute(name: str, filled: bool) -> dict[str, str]:
    """A generated exercise notebook (its blanks filled with the lesson's answers, or not), run in a kernel of this
    interpreter up to its last check and the progress table: {cell id: what it printed}."""
    nb = gen.build(ROOT / "notebooks" / name)
    for c in (c for c in nb.cells if filled and "exercise" in gen.tags(c)):
        c.source = solutions(name)[c.id]
    if name == NB03:  # the 200,000 steps are the lesson's to run
        last = max(i for i, c in enumerate(nb.cells) if {"check", "needs-solution"} & set(gen.tags(c)))
        nb.cells = nb.cells[: last + 1] + nb.cells[-1:]
    where = {"metadata": {"path": str(ROOT / "exercises")}}  # note: "python3" is this interpreter (jupyter_client)
    NotebookClient(nb, kernel_name="python3", timeout=600, resources=where).execute()
    return {c.id: "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"}


@pytest.mark.parametrize("name", gen.SOURCES)
def test_the_notebooks_run_untouched_and_with_the_lessons_answers(name, names):
    out = execute(name, False)
    assert " 0 of " in out["exercise-progress"] and "✗" not in "".join(out.values())  # nothing wrong, nothing done
    n = sum(len(e.grads) for e in EXERCISES.values() if e.lesson == name[:2])
    out = execute(name, True)
    assert f"{n} of {n} gradients right" in out["exercise-progress"] and "skipped" not in "".join(out.values())


@pytest.fixture(scope="module")
def ns02(tmp_path_factory):
    """Lesson 02 up to its map, then every solution: the learner's namespace."""
    ns = lesson_namespace(NB02, "map", real_home(tmp_path_factory))
    for e in ONE_TO_THREE:
        exec(solution(e), ns)
    return ns


def attempt(ns02, exercise, old, new) -> dict:
    """Exercise `exercise` checked after its solution was typed with `old` replaced by `new`, the earlier ones right."""
    assert old in solution(exercise), old
    ns, ex = dict(ns02), Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
    for e in ONE_TO_THREE[: ONE_TO_THREE.index(exercise) + 1]:
        try:
            exec(solution(e).replace(old, new, 1) if e == exercise else solution(e), ns)
        except RuntimeError:  # the learner's cell stops at a line that can't run; they run the check anyway
            pass
        fbs = {fb.name: fb for fb in ex.check(e, **{g: ns["d" + g] for g in EXERCISES[e].grads})}
    return fbs


@pytest.mark.parametrize(
    "exercise, old, new, name, status, mistake, named",
    [
        ("3", "n / (n - 1) * ", "", "hprebn", "values", "bessel", "n-1"),
        ("1c", "1.0 / (n - 1)", "1.0 / n", "bndiff2", "values", "bessel", "n-1"),
        ("1c", "1.0 / (n - 1)", "1.0 / n", "bndiff", "values", "inherited", "dbndiff2"),
        ("2", "dlogits[range(n), Yb] -= 1", "", "logits", "values", "dlogits_no_minus_one", "Yb"),
        ("1b", "(1.0 - h**2)", "(1.0 - hpreact**2)", "hpreact", "values", "tanh_input", "output h"),
        ("1b", "db2 = dlogits.sum(0)", "db2 = dlogits", "b2", "shape", "broadcast", "(27,)"),
        ("1b", "dW2 = h.T @ dlogits", "dW2 = dlogits.T @ h", "W2", "shape", "transposed", "(200, 27)"),
        ("1b", "dbnbias = dhpreact.sum(0, keepdim=True)", "dbnbias = dhpreact.sum(1, keepdim=True)", "bnbias",
         "shape", "shape", "(1, 200)"),
        # a tensor used twice: `=` where `+=` belongs, or the `+=` line left out: the hint says it sums both parts
        ("1a", "dcounts += torch.ones_like", "dcounts = torch.ones_like", "counts", "values", None, "+="),
        ("1c", "dhprebn += 1.0", "# dhprebn += 1.0", "hprebn", "values", None, "bndiff and bnmeani (used twice"),
        ("1d", "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))",
         "dC = torch.zeros_like(C)\ndC[Xb] = demb", "C", "values", "dC_assign", "+="),
        ("1d", "dW1 = embcat.T @ dhprebn", "dW1 = embcat.T @ dhprebn * 0", "W1", "values", "zeros", "zeros"),
        ("1c", "dhprebn = dbndiff.clone()", "dhprebn = dbndiff", "bndiff", "values", "alias", "clone"),
        ("1a", "(counts * dprobs).sum(1, keepdim=True)", "(counts * dprobs).sum(1)", "counts_sum", "shape",
         "inherited", "dcounts_sum_inv"),
        ("1a", "dprobs = (1.0 / probs)", "dprobs = (2.0 / probs)", "counts", "values", "inherited",
         "dprobs and dcounts_sum"),
        ("1c", "dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)", "bnmeani",
         "right", "keepdim", "keepdim=True"),
    ],
)  # fmt: skip
def test_a_typical_mistake_is_told_by_its_key(ns02, exercise, old, new, name, status, mistake, named):
    fb = attempt(ns02, exercise, old, new)[name]
    assert status in fb.status and fb.mistake == mistake and named in fb.hint + fb.detail


def test_an_answer_is_judged_against_autograd(ns02, capsys):
    """In float64, autograd's gradient of dlogits times a factor is told by the factor; autograd's own passes."""
    logits = ns02["logits"].detach().double().requires_grad_()
    torch.nn.functional.cross_entropy(logits, ns02["Yb"]).backward()
    ex, n = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"]), len(ns02["Xb"])
    for c, mistake in [(1, None), (-1, "sign"), (n, "missing_1/n"), (1 / n, "extra_1/n"), (0.5, "factor_2"), (3, None)]:
        [fb] = ex.check("2", logits=(c * logits.grad).float())
        assert fb.passed == (c == 1) and fb.mistake == mistake
    assert "differs in all 32 rows" in said(capsys)
    dlogits = logits.grad.float().clone()
    dlogits[3] += 1.0
    [fb] = ex.check("2", logits=dlogits)
    assert fb.status == "wrong values" and abs(fb.maxdiff - 1.0) < 1e-6 and "1 of 32 rows (3)" in fb.detail


def test_each_check_judges_its_own_cell_and_partly_attempted_is_not_wrong(ns02, capsys):
    ex, ns = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"]), dict(ns02)
    ex.check("1a", **{g: ns["d" + g] for g in EXERCISES["1a"].grads})
    [fb] = ex.check("2", logits=ns["dlogits"])  # exercise 2's cell stopped before assigning dlogits: still 1a's
    assert fb.status == "not attempted yet" and "1a" in fb.detail and not ex.solved("2")
    assert ex.check("2", logits=...)[0].status == "not attempted yet"
    assert ex.check("2", logits=[[0.0]])[0].status == "wrong type"
    grads = {g: ns["d" + g] if g in ("bnvar_inv", "bnvar", "bndiff2") else ... for g in EXERCISES["1c"].grads}
    fbs = ex.check("1c", **grads)
    assert [fb.status for fb in fbs].count("not attempted yet") == 3 and not ex.solved("1c") and ex.solved("1a")
    ex.progress()
    out = said(capsys)
    assert "3 of 6 right, 3 not attempted" in out and "3 of 6 right, 3 not attempted: done" not in out
    assert "Progress, lesson 02: 11 of 28 gradients right, 3 not attempted, 13 not checked; exercises done: 1" in out


def test_a_cell_that_raised_before_its_check_gets_the_line_and_its_cause(ns02, tmp_path, monkeypatch):
    """1a written out in full, one keepdim lost: the cell raises at line 7 (dcounts += ... can't broadcast), and its
    check names that line, blames the lost keepdim, and does not judge what the cell never reached. In IPython."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config as Traits

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    shell = InteractiveShell.instance(config=Traits({"HistoryManager": {"enabled": False}}))
    try:
        shell.user_ns.update({k: v for k, v in ns02.items() if not k.startswith("d")})
        shell.user_ns["ex"] = Exercises("02", ns02["graph"], ns02["Xb"], ns02["Yb"])
        assert shell.run_cell(solution("1a").replace("dprobs).sum(1, keepdim=True)", "dprobs).sum(1)")).error_in_exec
        shell.run_cell('fbs = ex.check("1a")')  # the exercise notebooks' check cell
        fbs = {fb.name: fb for fb in shell.user_ns["fbs"]}
    finally:
        InteractiveShell.clear_instance()
    assert fbs["probs"].passed and fbs["counts_sum_inv"].mistake == "keepdim"
    assert (fbs["counts"].status, fbs["counts"].mistake) == ("error", "inherited") and "line 7" in fbs["counts"].detail
    assert {fbs[k].status for k in ("norm_logits", "logits")} == {"not attempted yet"}


@pytest.fixture(scope="module")
def ns03():
    """Lesson 03's check set-up: the lesson's model, one batch, autograd's gradients in params[k].grad."""
    cfg = Config()
    g, vocab = torch.Generator().manual_seed(cfg.seed), architecture(cfg)["C"].shape[0]
    params = {k: v.requires_grad_(True) for k, v in init_params(cfg, g).items()}
    Xb, Yb = torch.randint(0, vocab, (32, 3), generator=g), torch.randint(0, vocab, (32,), generator=g)
    loss, cache = forward(params, Xb, Yb)
    loss.backward()
    return params, cache


def backward(old="", new=""):
    """Exercise 4's solution with `old` replaced by `new`, compiled as Jupyter keeps a cell (its lines kept)."""
    assert old in (src := solution("4")), old
    src = src.replace(old, new, 1)
    linecache.cache["cell-03"] = (len(src), None, src.splitlines(True), "cell-03")
    exec(compile(src, "cell-03", "exec"), ns := {"torch": torch, "F": torch.nn.functional, "PARAM_NAMES": PARAM_NAMES})
    return ns["backward"]


def check4(ns03, fn) -> dict:
    return {fb.name: fb for fb in Exercises("03").check_backward(fn, *ns03)}


def test_exercise_4_against_autograd_in_float64_and_the_lectures_forms(ns03, capsys):
    p64 = {k: v.detach().double().requires_grad_() for k, v in ns03[0].items()}
    loss, _ = forward(p64, ns03[1]["Xb"], ns03[1]["Yb"])
    in64 = dict(zip(p64, (d.float() for d in torch.autograd.grad(loss, list(p64.values()))), strict=True))
    assert all(fb.passed for fb in check4(ns03, lambda params, cache: in64).values())
    ret = next(line.strip() for line in solution("4").splitlines() if line.strip().startswith("return"))
    fbs = check4(ns03, backward(ret, "return [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"))
    assert all(fb.passed for fb in fbs.values())
    fbs = check4(
        ns03, backward("bngain = (bnraw * dhpreact).sum(0, keepdim=True)", "bngain = (bnraw * dhpreact).sum(0)")
    )
    assert all(fb.passed for fb in fbs.values()) and fbs["bngain"].mistake == "keepdim"  # and train takes it
    fbs = check4(ns03, backward(ret, "raise NotImplementedError"))
    assert {fb.status for fb in fbs.values()} == {"not attempted yet"}
    fbs = check4(ns03, backward(ret, "return [dW1, dW2, db1, db2, dC, dbnbias, dbngain]"))  # told by the shapes
    out = said(capsys)
    assert {fb.status for fb in fbs.values()} == {"wrong order"} and "dbngain or dbnbias" in out and STEPS[0] not in out


def test_exercise_4_names_the_first_wrong_step(ns03, capsys):
    stage = {k: p.stage for k, p in architecture(Config()).items()}
    fbs = check4(ns03, backward("(1.0 - h**2)", "(1.0 - h)"))  # tanh written as 1 - h: step 1
    assert all(fbs[k].passed for k in stage if stage[k] == 0)
    assert all(fbs[k].status == "wrong values" and fbs[k].mistake is None for k in stage if stage[k] == 1)
    later = [fbs[k] for k in stage if stage[k] > 1 and k != "b1"]  # b1: ~0, right whatever batch norm's mistake
    assert all(fb.mistake == "inherited" and STEPS[1] in fb.hint for fb in later) and later
    assert f"most likely in {STEPS[1]}" in said(capsys)
    fbs = check4(ns03, backward("dh = dlogits @ W2.T", "dh = dlogits @ W2"))
    assert fbs["C"].status == "error" and "dh = dlogits @ W2`" in fbs["C"].detail and "line 14" in fbs["C"].detail
    fbs = check4(ns03, lambda p, c: [1, 2])
    assert fbs["C"].status == fbs["W1"].status == "wrong type" and fbs["b1"].status == "not attempted yet"


@pytest.fixture
def ns4b(names, ns03):
    """Lesson 03's names for exercise 4b, and an Exercises whose exercise 4 passes."""
    (ex := Exercises("03")).check_backward(manual_backward, *ns03)
    data = load_splits(cfg := Config())
    ns = dict(torch=torch, cfg=cfg, Xtr=data.Xtr, Ytr=data.Ytr, forward=forward, init_params=init_params)
    return ns | {"make_generator": make_generator}, ex


def loop(ns4b, *edits, backward=manual_backward, steps=100) -> dict:
    """The lecture's training loop (exercise 4b's solution) for `steps` steps, with `edits` made to it, checked."""
    ns, ex = ns4b
    src = solution("4b").replace("range(1000)", f"range({steps})")
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    exec(src, ns := dict(ns, backward=backward))
    return {fb.name: fb for fb in ex.check_loop(ns["params"], ns["lossi"], ns["cfg"], steps=steps)}


def test_exercise_4b_checks_the_loop_and_what_it_records(ns4b, ns03):
    assert all(fb.passed for fb in loop(ns4b).values())
    fbs = loop(ns4b, ("loss.log10().item()", "loss.item()"))
    assert fbs["params"].passed and fbs["lossi"].status == "wrong values"
    fbs = loop(ns4b, ("lossi.append(loss.log10().item())", "pass"), ("-lr * grads", "lr * grads"))
    assert (fbs["params"].status, fbs["lossi"].status) == ("wrong values", "not attempted yet")
    wrong = backward("db2 = dlogits.sum(0)", "db2 = 2 * dlogits.sum(0)")
    ns4b[1].check_backward(wrong, *ns03)
    fbs = loop(ns4b, backward=wrong)
    assert "exercise 4" in fbs["params"].hint
    ns, ex = ns4b
    exec(solution("4b").split("with torch.no_grad()")[0], ns)  # the set-up lines the blank keeps: no loop yet
    assert {fb.status for fb in ex.check_loop(ns["params"], ns["lossi"], ns["cfg"])} == {"not attempted yet"}
    assert ex.check_loop({}, [], ns["cfg"])[0].status == "not attempted yet"
