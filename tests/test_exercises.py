"""The exercise notebooks (exercises/) and their feedback (helpers.exercises), tested the way learntools tests its own.

(a) exercises/ is exactly what `make exercises` generates from the lessons (so CI fails when it is stale);
(b) every blank filled with the lesson's solution passes all its checks (nbclient: the whole exercise 02; 03 up to
    its last check/needs-solution cell, i.e. without the 200,000-step training and the checkpoint save, which
    don't use the learner's code and which nbval already runs in the lesson);
(c) typical mistakes, made by editing a solution, fail with the matching hint (in-process, one test each);
(d) the untouched exercise notebooks run top to bottom, every check answering "not attempted yet" (nbclient);
plus every feedback category of `check`/`check_backward`, the progress table, and the generator's guard rails.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch
from nbclient import NotebookClient

from helpers import exercises as ex
from helpers.exercises import PROGRESS, begin, check, check_backward, check_loop
from helpers.exercises.checks import (
    APPROXIMATE,
    ERROR,
    EXACT,
    NOT_ATTEMPTED,
    NOT_CHECKED,
    WRONG_SHAPE,
    WRONG_TYPE,
    WRONG_VALUES,
)

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
LESSONS, EXERCISES_DIR = ROOT / "notebooks", ROOT / "exercises"
NB02, NB03 = "02_gradient_verification.ipynb", "03_manual_backprop_training.ipynb"

_spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "tools" / "make_exercises.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


@pytest.fixture(autouse=True)
def _fresh_progress():
    PROGRESS.clear()
    ex.checks.BEFORE.clear()
    yield
    PROGRESS.clear()
    ex.checks.BEFORE.clear()


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _solutions(name: str) -> dict[str, str]:
    """{cell id: source} of the lesson's solution cells."""
    return {c.id: c.source for c in nbformat.read(LESSONS / name, as_version=4).cells if "solution" in _tags(c)}


def _solution_of(name: str) -> dict[str, str]:
    """{exercise id: solution source}, in the catalogue's order."""
    ids = [e.id for e in ex.EXERCISES.values() if e.lesson == name[:2]]
    return dict(zip(ids, _solutions(name).values(), strict=False))


# ---------------------------------------------------------------------------------------------------
# (a) exercises/ is up to date, and is the lesson with blanks


@pytest.mark.parametrize("name", gen.SOURCES)
def test_exercises_are_up_to_date(name):
    expected = gen.render(LESSONS / name)
    assert expected == gen.render(LESSONS / name), "the generator is not deterministic"
    committed = (EXERCISES_DIR / name).read_text(encoding="utf-8")
    assert committed == expected, f"exercises/{name} is out of date: run `make exercises` and commit the result"


@pytest.mark.parametrize("name", gen.SOURCES)
def test_exercise_notebook_is_the_lesson_with_blanks(name):
    lesson = nbformat.read(LESSONS / name, as_version=4)
    exercise = nbformat.read(EXERCISES_DIR / name, as_version=4)
    assert exercise.cells[0].id == "exercise-intro" and exercise.cells[-1].id == "exercise-progress"
    generated = ("-begin", "-check", "-sketch")  # cells the generator adds
    body = [c for c in exercise.cells[1:-1] if not c.id.endswith(generated)]
    assert [c.id for c in body] == [c.id for c in lesson.cells]
    assert "widgets" not in exercise.metadata and exercise.metadata.kernelspec == lesson.metadata.kernelspec
    rewritten = {k.split(":")[1] for k in gen.REWRITES if k.startswith(name[:2])}
    for old, new in zip(lesson.cells, body, strict=True):
        if new.cell_type == "code":
            assert new.outputs == [] and new.execution_count is None, new.id
        tags = _tags(old)
        if "solution" in tags:
            assert _tags(new) == ["exercise"] and gen.MARKER in new.source
            # nothing of the answer is left but names (and the loop's set-up): comments, `name = ...`, def/raise
            setup = [line for line in old.source.splitlines() if line and not line[0].isspace() and " = " in line]
            for line in new.source.splitlines():
                s = line.strip()
                ok = s.startswith(("#", "def ", "raise NotImplementedError")) or s.split("  #")[0].endswith(" = ...")
                assert ok or line in setup, line
        elif "check" in tags:
            assert "cmp(" not in new.source and "compare_grads(" not in new.source
            assert "from helpers.exercises import check" in new.source
        elif "needs-solution" in tags:
            assert new.source.startswith("from helpers.exercises import solved\n\nif solved(")
        elif not {"derivation", "fallback", "runs-helpers"} & set(tags) and old.id not in rewritten:
            assert new.source == old.source and new.metadata == old.metadata, new.id


# ---------------------------------------------------------------------------------------------------
# executing the exercise notebooks: (b) and (d)


@pytest.fixture(scope="session")
def kernel(tmp_path_factory, names_path):
    """A kernel spec for this very interpreter, so the notebooks run in the environment under test."""
    d = tmp_path_factory.mktemp("jupyter")
    spec = d / "kernels" / "exercises-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "exercises test",
                "language": "python",
            }
        )
    )
    return d


def _execute(nb, kernel, monkeypatch, lesson: str) -> dict:
    """Run `nb` from exercises/ and return what its kernel's PROGRESS says (and which Python ran it)."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import json, sys\nfrom helpers.exercises.checks import _status\nfrom helpers.exercises.catalogue import "
            "exercises_of\nsummary = {e.id: {g: _status(e.id, g) for g in e.grads} for e in exercises_of("
            f"{lesson!r})}}\nprint(json.dumps({{'prefix': sys.prefix, 'summary': summary}}))"
        )
    )
    NotebookClient(
        nb, kernel_name="exercises-test", timeout=300, resources={"metadata": {"path": str(EXERCISES_DIR)}}
    ).execute()
    result = json.loads(nb.cells[-1].outputs[0]["text"])
    assert result["prefix"] == sys.prefix
    return result["summary"]


def _up_to_last_check(nb):
    """Lesson 03's exercise up to its last check/needs-solution cell, and the progress cell."""
    last = max(i for i, c in enumerate(nb.cells) if {"check", "needs-solution"} & set(_tags(c)))
    nb.cells = nb.cells[: last + 1] + [nb.cells[-1]]
    return nb


def _outputs(nb) -> dict[str, str]:
    return {c.id: "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"}


def _fill(nb, name):
    solutions = _solutions(name)
    for c in nb.cells:
        if "exercise" in _tags(c):
            c.source = solutions[c.id]
    return nb


@pytest.mark.parametrize("name", gen.SOURCES)
def test_untouched_exercise_notebook_runs_and_reports_not_attempted(name, kernel, monkeypatch):
    nb = nbformat.read(EXERCISES_DIR / name, as_version=4)
    if name == NB03:
        nb = _up_to_last_check(nb)
    summary = _execute(nb, kernel, monkeypatch, name[:2])
    assert {s for grads in summary.values() for s in grads.values()} == {NOT_ATTEMPTED}
    out = _outputs(nb)
    checks = [c for c in nb.cells if "check" in _tags(c)]
    assert checks and all(NOT_ATTEMPTED in out[c.id] and "✗" not in out[c.id] for c in checks)
    guarded = [c for c in nb.cells if "needs-solution" in _tags(c)]
    assert guarded and all(out[c.id].startswith("skipped: this cell uses your answer") for c in guarded)
    assert "0 of" in out["exercise-progress"] and NOT_ATTEMPTED in out["exercise-progress"]


@pytest.mark.parametrize("name", gen.SOURCES)
def test_filled_exercise_notebook_passes_every_check(name, kernel, monkeypatch):
    nb = _fill(nbformat.read(EXERCISES_DIR / name, as_version=4), name)
    if name == NB03:
        nb = _up_to_last_check(nb)
    summary = _execute(nb, kernel, monkeypatch, name[:2])
    assert {s for grads in summary.values() for s in grads.values()} <= {EXACT, APPROXIMATE}, summary
    out = _outputs(nb)
    assert all("skipped" not in out[c.id] for c in nb.cells if "needs-solution" in _tags(c))
    n = sum(len(g) for g in summary.values())
    assert f"{n} of {n} gradients right" in out["exercise-progress"]


# ---------------------------------------------------------------------------------------------------
# in-process: the lesson's namespace, answers filled in


@pytest.fixture(scope="module")
def ns02(names_path):
    """Lesson 02 run in-process up to its first exercise, then every solution: the learner's namespace."""
    ns: dict = {}
    for c in nbformat.read(LESSONS / NB02, as_version=4).cells:
        if c.cell_type != "code" or {"check", "needs-solution"} & set(_tags(c)):
            continue
        if "solution" in _tags(c):
            break
        exec(compile(c.source, c.id, "exec"), ns)
    for src in _solution_of(NB02).values():
        exec(compile(src, "solution", "exec"), ns)
    return ns


def _attempt(ns02, exercise, old, new):
    """The namespace after exercise `exercise`'s solution, with `old` replaced by `new` (must occur)."""
    src = _solution_of(NB02)[exercise]
    assert old in src, f"the solution of {exercise} no longer contains {old!r}"
    ns = dict(ns02)
    exec(compile(src.replace(old, new, 1), f"mistake in {exercise}", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def ns03(names_path):
    """Lesson 03's set-up and check cell (params, cache, loss.backward()) and its solution `backward`."""
    nb = nbformat.read(LESSONS / NB03, as_version=4)
    ns: dict = {}
    cells = [c for c in nb.cells if c.cell_type == "code"]
    exec(compile(cells[0].source, "imports", "exec"), ns)
    setup = next(c.source for c in cells if "check" in _tags(c)).split("with torch.no_grad()")[0]
    exec(compile(setup, "check set-up", "exec"), ns)
    return ns


def _backward(ns03, old="", new=""):
    src = _solution_of(NB03)["4"]
    assert old in src
    ns = dict(ns03)
    exec(compile(src.replace(old, new, 1), "backward", "exec"), ns)
    return ns["backward"]


def _check_backward(ns03, fn, **kw):
    grads, feedback = check_backward("4", fn, ns03["params"], ns03["cache"], **kw)
    return grads, {fb.name: fb for fb in feedback}


# ---------------------------------------------------------------------------------------------------
# (b) in-process too: every solution passes


def test_every_solution_passes_in_process(ns02, ns03):
    for e in ex.EXERCISES.values():
        if e.lesson == "02":
            assert all(check(e.id, g, ns=ns02, show=False).passed for g in e.grads), e.id
    _, fbs = _check_backward(ns03, _backward(ns03), show=False)
    assert all(fb.passed for fb in fbs.values())
    assert all(ex.solved(e) for e in ex.EXERCISES if e != "4b")  # the loop: test_loop_*


# ---------------------------------------------------------------------------------------------------
# (c) typical mistakes: the matching check fails with the matching hint


def test_missing_bessel_correction_in_dhprebn(ns02):
    ns = _attempt(ns02, "3", "n / (n - 1) * ", "")
    fb = check("3", "dhprebn", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "bessel"
    assert "Bessel" in fb.hint and "n/(n-1)" in fb.hint


def test_missing_bessel_correction_step_by_step(ns02):
    ns = _attempt(ns02, "1c", "1.0 / (n - 1)", "1.0 / n")
    fb = check("1c", "dbndiff2", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "bessel" and "Bessel" in fb.hint
    fb = check("1c", "dbndiff", ns=ns, show=False)  # computed from it: blamed on it
    assert fb.mistake == "inherited" and "dbndiff2, which this step uses, is wrong" in fb.hint
    assert check("1c", "dbnvar", ns=ns, show=False).passed  # before the mistake: still right


def test_dC_by_assignment_instead_of_accumulation(ns02):
    src = "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))"
    ns = _attempt(ns02, "1d", src, "dC = torch.zeros_like(C)\ndC[Xb] = demb")
    fb = check("1d", "dC", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "dC_assign"
    assert "accumulate" in fb.hint and "don't assign" in fb.hint
    assert "rows" in fb.detail


def test_dC_by_assignment_in_the_lecture_loop(ns02):
    src = "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))"
    loop = (
        "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n    for j in range(Xb.shape[1]):\n"
        "        dC[Xb[k, j]] = demb[k, j]"
    )
    fb = check("1d", "dC", ns=_attempt(ns02, "1d", src, loop), show=False)
    assert fb.mistake == "dC_assign"


def test_dlogits_not_divided_by_n(ns02):
    fb = check("2", "dlogits", ns=_attempt(ns02, "2", "dlogits /= n", ""), show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "missing_1/n"
    assert "1/n is missing" in fb.hint and "mean" in fb.hint


def test_keepdim_dropped_in_dbngain(ns02):
    ns = _attempt(
        ns02, "1b", "dbngain = (bnraw * dhpreact).sum(0, keepdim=True)", "dbngain = (bnraw * dhpreact).sum(0)"
    )
    fb = check("1b", "dbngain", ns=ns, show=False)  # broadcasts to the right values: right, with a note
    assert fb.passed and fb.mistake == "keepdim" and fb.detail.startswith("right values")
    assert "(1, 200)" in fb.detail and "(200,)" in fb.detail and "keepdim=True" in fb.detail
    ns = dict(ns02, dcounts_sum_inv=ns02["dcounts_sum_inv"].sum(1))  # (counts * dprobs).sum(1): no keepdim
    fb = check("1a", "dcounts_sum_inv", ns=ns, show=False)  # (32,) against (32, 1): it would broadcast wrongly
    assert fb.status == WRONG_SHAPE and fb.mistake == "keepdim" and "(32, 32)" in fb.hint


def test_sign_error(ns02):
    fb = check("1c", "dbnvar", ns=_attempt(ns02, "1c", "(-0.5 * (bnvar", "(0.5 * (bnvar"), show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "sign" and "opposite sign" in fb.hint


def test_sum_over_broadcast_dimension_forgotten(ns02):
    fb = check("1b", "db2", ns=_attempt(ns02, "1b", "db2 = dlogits.sum(0)", "db2 = dlogits"), show=False)
    assert fb.status == WRONG_SHAPE and fb.mistake == "broadcast" and "sums over" in fb.hint


def test_transposed_matrix_gradient(ns02):
    fb = check("1b", "dW2", ns=_attempt(ns02, "1b", "dW2 = h.T @ dlogits", "dW2 = dlogits.T @ h"), show=False)
    assert fb.status == WRONG_SHAPE and fb.mistake == "transposed"


def test_tanh_derivative_from_its_input(ns02):
    ns = _attempt(ns02, "1b", "(1.0 - h**2)", "(1.0 - hpreact**2)")
    fb = check("1b", "dhpreact", ns=ns, show=False)
    assert fb.mistake == "tanh_input" and "output" in fb.hint
    for name in ("dbngain", "dbnbias"):  # computed from it: they point back to it
        fb = check("1b", name, ns=ns, show=False)
        assert fb.mistake == "inherited" and "dhpreact" in fb.hint, name


def test_softmax_minus_one_forgotten(ns02):
    fb = check("2", "dlogits", ns=_attempt(ns02, "2", "dlogits[range(n), Yb] -= 1", ""), show=False)
    assert fb.mistake == "dlogits_no_minus_one" and "Yb" in fb.hint


def test_softmax_over_the_wrong_dimension(ns02):
    fb = check("2", "dlogits", ns=_attempt(ns02, "2", "F.softmax(logits, 1)", "F.softmax(logits, 0)"), show=False)
    assert fb.mistake == "dlogits_softmax_dim0" and "dim=1" in fb.hint


def test_softmax_overflow_points_at_the_max_subtraction(ns02):
    ns = _attempt(ns02, "2", "F.softmax(logits, 1)", "(100 * logits).exp() / (100 * logits).exp().sum(1, keepdim=True)")
    fb = check("2", "dlogits", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and fb.mistake == "nonfinite" and "maximum" in fb.hint


def test_gradient_used_twice_only_one_path(ns02):
    ns = _attempt(ns02, "1a", "dcounts += torch.ones_like(counts) * dcounts_sum", "")
    fb = check("1a", "dcounts", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and "used twice (in probs and in counts_sum): add both" in fb.hint
    ns = _attempt(ns02, "1c", "dbndiff += (2 * bndiff) * dbndiff2", "")
    fb = check("1c", "dbndiff", ns=ns, show=False)
    assert fb.status == WRONG_VALUES and "used twice (in bnraw and in bndiff2): add both" in fb.hint


def test_loss_mean_forgotten_in_dlogprobs(ns02):
    ns = _attempt(ns02, "1a", "dlogprobs[range(n), Yb] = -1.0 / n", "dlogprobs[range(n), Yb] = -1.0")
    fb = check("1a", "dlogprobs", ns=ns, show=False)
    assert fb.mistake == "missing_1/n" and "mean" in fb.hint


def test_backward_without_bessel_points_at_batch_norm(ns03, capsys):
    _, fbs = _check_backward(ns03, _backward(ns03, "n / (n - 1) * ", ""))
    assert fbs["dW1"].mistake == "bessel" and fbs["dC"].mistake == "bessel"
    assert all(fbs[k].passed for k in ("dW2", "db2", "dbngain", "dbnbias"))
    out = capsys.readouterr().out
    assert "Bessel" in out and "most likely in batch norm" in out
    assert not ex.solved("4")


def test_backward_without_dividing_dlogits_by_n(ns03, capsys):
    _, fbs = _check_backward(ns03, _backward(ns03, "dlogits /= n", ""))
    assert all(fbs[k].mistake == "missing_1/n" for k in ("dW2", "db2", "dbngain", "dbnbias", "dW1", "dC"))
    assert "start with the cross-entropy step" in capsys.readouterr().out


def test_backward_with_dC_by_assignment(ns03):
    src = "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[-1]))"
    _, fbs = _check_backward(ns03, _backward(ns03, src, "dC = torch.zeros_like(C)\n    dC[Xb] = demb"), show=False)
    assert fbs["dC"].mistake == "dC_assign" and sum(fb.passed for fb in fbs.values()) == 6


# ---------------------------------------------------------------------------------------------------
# every feedback category, in-process


def test_not_attempted_missing_ellipsis_none(ns02):
    ns = dict(ns02)
    del ns["dlogits"]
    fb = check("2", "dlogits", ns=ns, show=False)
    assert fb.status == NOT_ATTEMPTED and "no variable" in fb.detail
    for placeholder in (..., None):
        ns["dlogits"] = placeholder
        assert check("2", "dlogits", ns=ns, show=False).status == NOT_ATTEMPTED


def test_not_attempted_function(ns03):
    def blank(params, cache):
        raise NotImplementedError("exercise 4")

    for fn in (blank, ..., None):
        grads, fbs = _check_backward(ns03, fn, show=False)
        assert grads is None and {fb.status for fb in fbs.values()} == {NOT_ATTEMPTED}
    assert not ex.solved("4")


def test_wrong_type(ns02):
    ns = dict(ns02, dlogits=[[0.0] * 27] * 32)
    fb = check("2", "dlogits", ns=ns, show=False)
    assert fb.status == WRONG_TYPE and "torch.Tensor" in fb.detail


def test_error_in_backward_names_the_line(ns03, capsys):
    grads, fbs = _check_backward(ns03, _backward(ns03, "dh = dlogits @ W2.T", "dh = dlogits @ W2"))
    assert grads is None and {fb.status for fb in fbs.values()} == {ERROR}
    out = capsys.readouterr().out
    assert "RuntimeError" in out and "line 12" in out


def test_backward_returns_wrong_things(ns03):
    _, fbs = _check_backward(ns03, lambda p, c: [1, 2], show=False)
    assert {fb.status for fb in fbs.values()} == {WRONG_TYPE}
    good = _backward(ns03)
    _, fbs = _check_backward(ns03, lambda p, c: {k: v for k, v in good(p, c).items() if k != "C"}, show=False)
    assert fbs["dC"].status == NOT_ATTEMPTED and "no key 'C'" in fbs["dC"].detail and fbs["dW1"].passed


def test_reference_without_grad_is_an_error_not_a_crash(ns02):
    ns = dict(ns02, logits=ns02["logits"].detach())
    fb = check("2", "dlogits", ns=ns, show=False)
    assert fb.status == ERROR and "loss.backward()" in fb.detail


def test_wrong_values_exact_and_approximate(ns02, capsys):
    fb = check("1a", "dlogprobs", ns=ns02)
    assert fb.status == EXACT and fb.maxdiff == 0.0
    fb = check("1b", "dhpreact", ns=ns02)
    assert fb.status == APPROXIMATE and fb.approximate and 0 < fb.maxdiff < 1e-6
    ns = dict(ns02, dhpreact=ns02["dhpreact"] * torch.linspace(1, 2, 200))
    fb = check("1b", "dhpreact", ns=ns)
    assert fb.status == WRONG_VALUES and not fb.passed and fb.maxdiff > 1e-4
    assert "rows" in fb.detail and fb.hint
    out = capsys.readouterr().out
    assert "✓ dlogprobs" in out and "≈ dhpreact" in out and "✗ dhpreact" in out and "hint:" in out


def test_feedback_never_prints_the_reference(ns02, capsys):
    ns = dict(ns02, dlogits=ns02["dlogits"] * 2)
    check("2", "dlogits", ns=ns)
    out = capsys.readouterr().out
    ref = ns02["logits"].grad
    assert f"{ref[0, 0].item():.4f}" not in out and "softmax(logits, 1)" not in out


def test_progress_table_and_solved(ns02, capsys):
    for g in ex.EXERCISES["1b"].grads:
        check("1b", g, ns=ns02, show=False)
    check("2", "dlogits", ns=dict(ns02, dlogits=...), show=False)
    assert PROGRESS[("2", "dlogits")].status == NOT_ATTEMPTED and ("1a", "dlogprobs") not in PROGRESS
    assert ex.solved("1b") and not ex.solved("2") and not ex.solved("1a")
    ex.progress("02")
    out = capsys.readouterr().out
    assert out.startswith("Progress, lesson 02: 7 of 28 gradients right; exercises done: 1 of 6 (1b)")
    assert "dbngain" in out and NOT_CHECKED in out
    with pytest.raises(ValueError):
        ex.progress("05")
    with pytest.raises(ValueError):
        check("9z", "dlogits", ns=ns02)


# ---------------------------------------------------------------------------------------------------
# the generator's guard rails


def _lesson_copy(tmp_path, name, edit):
    nb = nbformat.read(LESSONS / name, as_version=4)
    edit(nb)
    d = tmp_path / "notebooks"
    d.mkdir(exist_ok=True)
    nbformat.write(nb, d / name)
    return d / name


def test_untagged_cell_using_the_answer_is_an_error(tmp_path):
    def untag(nb):
        for c in nb.cells:
            if "needs-solution" in _tags(c):
                c.metadata["tags"].remove("needs-solution")

    with pytest.raises(gen.GeneratorError, match="db2.*needs-solution"):
        gen.build(_lesson_copy(tmp_path, NB02, untag))


def test_check_cell_out_of_step_with_the_catalogue_is_an_error(tmp_path):
    def drop_a_cmp(nb):
        c = next(c for c in nb.cells if "check" in _tags(c))
        c.source = "\n".join(c.source.splitlines()[1:])

    with pytest.raises(gen.GeneratorError, match="EXERCISES"):
        gen.build(_lesson_copy(tmp_path, NB02, drop_a_cmp))


def test_generator_check_write_and_refusal(tmp_path, capsys):
    out = tmp_path / "exercises"
    assert gen.main(["--check", "--out", str(out)]) == 1  # missing: out of date
    assert gen.main(["--out", str(out)]) == 0
    assert gen.main(["--check", "--out", str(out)]) == 0
    assert (out / NB02).read_text(encoding="utf-8") == (EXERCISES_DIR / NB02).read_text(encoding="utf-8")
    # a learner's work is not overwritten without --force
    nb = nbformat.read(out / NB02, as_version=4)
    blank = next(c for c in nb.cells if "exercise" in _tags(c))
    blank.source = blank.source.replace("dlogprobs = ...", "dlogprobs = torch.zeros_like(logprobs)")
    nbformat.write(nb, out / NB02)
    worked = (out / NB02).read_text(encoding="utf-8")
    assert gen.main(["--out", str(out)]) == 2
    assert (out / NB02).read_text(encoding="utf-8") == worked
    assert "was filled in" in capsys.readouterr().err
    assert gen.main(["--out", str(out), "--force"]) == 0
    assert gen.main(["--check", "--out", str(out)]) == 0


# ---------------------------------------------------------------------------------------------------
# issue #10: the exercise notebooks as a learner meets them


def _cells(name: str) -> dict:
    return {c.id: c for c in nbformat.read(EXERCISES_DIR / name, as_version=4).cells}


@pytest.mark.parametrize("exercise", ["1a", "1c"])
def test_blanks_can_be_filled_top_to_bottom(ns02, exercise):
    """Each slot filled, in order, with the lesson's lines it stands for: no name is used before it is made."""
    ns = {
        k: v
        for k, v in ns02.items()
        if k not in gen.GRADS or k in {g for e in ("1a", "1b") for g in ex.EXERCISES[e].grads} and exercise == "1c"
    }
    slots = gen.slots(_solution_of(NB02)[exercise], ex.EXERCISES[exercise])
    assert any(line.startswith("# d") and "+= ..." in line for line, _ in slots)  # the second contributions
    for line, lesson_lines in slots:
        exec(compile(lesson_lines, line, "exec"), ns)  # a NameError here: a slot comes before what it needs
    assert all(check(exercise, g, ns=ns, show=False).passed for g in ex.EXERCISES[exercise].grads)


def test_one_go_exercises_hide_the_derivation_below_the_check():
    cells = _cells(NB02)
    ids = list(cells)
    for md, check_cell, answer in (
        ("cell-18", "cell-21", "softmax}(\\text{logits"),
        ("cell-24", "cell-27", "n-1}\\,\\hat"),
    ):
        assert answer not in cells[md].source and "**Your task:**" in cells[md].source and "*Hint:*" in cells[md].source
        sketch = cells[f"{md}-sketch"]
        assert answer in sketch.source and sketch.metadata["jupyter"]["source_hidden"] is True
        assert ids.index(f"{md}-sketch") == ids.index(check_cell) + 1


def test_exercise_02_says_which_backward_the_100_steps_run():
    for cid in ("cell-29", "cell-32"):
        assert _cells(NB02)[cid].source.startswith('print("this cell runs helpers.manual_backward')


def test_lecture_answers_are_accepted(ns02, capsys):
    ns = _attempt(ns02, "1c", "dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)")
    assert all(check("1c", g, ns=ns).passed for g in ex.EXERCISES["1c"].grads)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if " dbnmeani " in x)
    assert line[0] in "✓≈" and "right values" in line and "note the shape" in line and "✗" not in out


@pytest.mark.parametrize("exercise, typo", [("2", "F.softmax(logitz, 1)"), ("3", "bngain * bnvar_inv")])
def test_each_check_judges_its_own_cell(ns02, exercise, typo):
    ns = dict(ns02)  # 1a-1d done: dlogits and dhprebn hold their right answers
    begin(exercise, ns)
    src = _solution_of(NB02)[exercise]
    with pytest.raises(NameError):  # the learner's cell stops at its first line
        exec(compile(src.replace(typo, "undefined_name", 1) if typo in src else "undefined_name", "cell", "exec"), ns)
    fb = check(exercise, ex.EXERCISES[exercise].grads[0], ns=ns, show=False)
    assert fb.status == NOT_ATTEMPTED and "still holds" in fb.detail and not ex.solved(exercise)


def test_blame_the_first_wrong_step(ns02):
    ns = _attempt(ns02, "1a", "dcounts_sum = (-(counts_sum**-2))", "dcounts_sum = (counts_sum**-2)")
    assert check("1a", "dcounts_sum", ns=ns, show=False).mistake == "sign"
    for name, blamed in (("dcounts", "dcounts_sum"), ("dnorm_logits", "dcounts"), ("dlogits", "dnorm_logits")):
        fb = check("1a", name, ns=ns, show=False)
        assert fb.mistake == "inherited" and blamed in fb.hint and "which this step uses, is wrong" in fb.hint, name
    ns = dict(ns02, dhpreact=-ns02["dhpreact"])  # exercise 3 from a wrong dhpreact (1b)
    exec(compile(_solution_of(NB02)["3"], "exercise 3", "exec"), ns)
    fb = check("3", "dhprebn", ns=ns, show=False)
    assert fb.mistake == "inherited" and "dhpreact" in fb.hint


def test_no_broadcasting_hint_where_broadcasting_gives_the_right_values(ns02):
    fb = check("1c", "dbnmeani", ns=dict(ns02, dbnmeani=ns02["dbnmeani"].view(-1)), show=False)
    assert fb.passed and fb.hint == ""


def test_intro_and_docs_say_what_run_all_does():
    for name in gen.SOURCES:
        intro = _cells(name)["exercise-intro"].source
        assert "stops *Run All* there" in intro and "always gets to the end" not in intro
    docs = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    assert "always gets to the end" not in docs and "stops" in docs


def test_check_before_its_exercise_cell_ran_is_not_attempted(ns03):
    ns = {k: v for k, v in ns03.items() if k != "backward"}
    _, fbs = check_backward("4", "backward", ns["params"], ns["cache"], ns=ns, show=False)
    assert {fb.status for fb in fbs} == {NOT_ATTEMPTED}
    assert {fb.status for fb in check_loop("4b", ns={"cfg": ns03["cfg"]}, show=False)} == {NOT_ATTEMPTED}
    assert check("2", "dlogits", ns={"logits": None}, show=False).status == ERROR  # no raw NameError either


@pytest.mark.parametrize("name", gen.SOURCES)
def test_no_bare_assertion_reaches_the_learner(name):
    import ast

    for c in nbformat.read(EXERCISES_DIR / name, as_version=4).cells:
        if c.cell_type == "code":
            for node in ast.walk(ast.parse(c.source)):
                assert not isinstance(node, ast.Assert) or node.msg is not None, (c.id, ast.unparse(node))


def _loop_ns(ns03, loop_src):
    ns = dict(ns03, backward=_backward(ns03))
    exec(compile(loop_src, "loop", "exec"), ns)
    return ns


def test_loop_exercise_checks_params_and_lossi(ns03, capsys):
    src = next(c.source for c in nbformat.read(LESSONS / NB03, as_version=4).cells if c.id == "cell-07")
    ns = _loop_ns(ns03, src.replace("print(", "(").replace("range(1000)", "range(100)"))
    fbs = check_loop("4b", ns=ns, steps=100, show=False)
    assert all(fb.passed for fb in fbs) and ex.solved("4b")
    ns = _loop_ns(
        ns03, src.replace("print(", "(").replace("range(1000)", "range(100)").replace("lr = cfg.lr if", "lr = 0.01 if")
    )
    params, lossi = check_loop("4b", ns=dict(ns, lossi=ns["lossi"][:-1]), steps=100)
    assert params.status == WRONG_VALUES and "lr = 0.1" in params.hint and lossi.status == WRONG_VALUES
    assert "99 entries; one per step is 100" in capsys.readouterr().out


@pytest.mark.parametrize("passes", [True, False])
def test_full_run_says_which_backward_trained_the_model(ns03, capsys, passes):
    from helpers import manual_backward

    used = []

    def train(params, *args, backward=None, **kw):
        used.append(backward)
        return type("R", (), {"steps_done": 1, "seconds": 1.0, "steps_per_second": 1.0})()

    mine = _backward(ns03)
    if passes:
        _check_backward(ns03, mine, show=False)
    exec(_cells(NB03)["cell-10"].source, dict(ns03, train=train, backward=mine))
    out = capsys.readouterr().out
    assert used == [mine if passes else manual_backward]
    assert ("trained with your backward" if passes else "trained with helpers.manual_backward") in out
    assert passes or "does not pass exercise 4's check yet" in out


def test_result_statements_are_conditional_in_the_exercise_version():
    text = _cells(NB02)["cell-18"].source
    assert text.startswith("When every row of exercise 1's checks says *exactly right*")
    assert "When the table below shows every gradient right" in _cells(NB02)["cell-34"].source
    assert "until then the cell says so" in _cells(NB03)["cell-09"].source
