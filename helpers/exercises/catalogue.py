"""The exercises of lessons 02 and 03 (the lecture's exercises 1-4): what each asks for.

tools/make_exercises.py makes every exercise cell from this: the blank (`dname = ...` for each gradient,
or the function to write) and the check cell (`check(...)` for each gradient, or one `check_backward`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import PARAM_NAMES


@dataclass(frozen=True)
class Exercise:
    id: str
    lesson: str  # the notebook's number: "02" or "03"
    title: str
    grads: tuple[str, ...]  # the learner's variables (for exercise 4: "d" + the key of the returned dict)
    function: str | None = None  # exercise 4: the function the learner writes, `function(params, cache)`


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in (
        Exercise(
            "1a",
            "02",
            "from the loss to the logits",
            (
                "dlogprobs",
                "dprobs",
                "dcounts_sum_inv",
                "dcounts_sum",
                "dcounts",
                "dnorm_logits",
                "dlogit_maxes",
                "dlogits",
            ),
        ),
        Exercise(
            "1b",
            "02",
            "the second linear layer, tanh, batch norm's scale and shift",
            ("dh", "dW2", "db2", "dhpreact", "dbngain", "dbnraw", "dbnbias"),
        ),
        Exercise(
            "1c",
            "02",
            "batch norm, step by step",
            ("dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn"),
        ),
        Exercise("1d", "02", "the first linear layer and the embedding", ("dembcat", "dW1", "db1", "demb", "dC")),
        Exercise("2", "02", "cross-entropy backward in one go", ("dlogits",)),
        Exercise("3", "02", "batch norm backward in one go", ("dhprebn",)),
        Exercise("4", "03", "the whole backward pass", tuple("d" + k for k in PARAM_NAMES), function="backward"),
    )
}


def lesson_of(lesson: str | int) -> str:
    s = str(lesson)
    return f"{int(s):02d}" if s.isdigit() else s


def exercises_of(lesson: str | int | None) -> list[Exercise]:
    """The exercises of one lesson (every lesson's with None)."""
    if lesson is None:
        return list(EXERCISES.values())
    found = [e for e in EXERCISES.values() if e.lesson == lesson_of(lesson)]
    if not found:
        raise ValueError(
            f"lesson {lesson!r} has no exercises; lessons with exercises: "
            f"{sorted({e.lesson for e in EXERCISES.values()})}"
        )
    return found


def exercise(exercise: str | int) -> Exercise:
    try:
        return EXERCISES[str(exercise)]
    except KeyError:
        raise ValueError(f"no exercise {exercise!r}; the exercises are {', '.join(EXERCISES)}") from None
