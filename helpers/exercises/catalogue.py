"""The exercises of lessons 02 and 03 (the lecture's exercises 1-4): what each asks for.

tools/make_exercises.py makes every exercise cell from this: the blank and the check cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import PARAM_NAMES


@dataclass(frozen=True)
class Exercise:
    id: str
    lesson: str  # the notebook's number: "02" or "03"
    title: str
    grads: tuple[str, ...]  # what is checked: the learner's gradients (exercise 4: "d" + the returned dict's keys)
    function: str | None = None  # exercise 4: the function the learner writes, `function(params, cache)`
    uses: tuple[str, ...] | None = None  # a one-go gradient: the tensors whose gradients it starts from
    loop: bool = False  # exercise 4b: the training loop, checked by what it leaves in `params` and `lossi`


def _grads(names: str) -> tuple[str, ...]:
    return tuple("d" + k for k in names.split())


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in (
        Exercise(
            "1a",
            "02",
            "from the loss to the logits",
            _grads("logprobs probs counts_sum_inv counts_sum counts norm_logits logit_maxes logits"),
        ),
        Exercise(
            "1b",
            "02",
            "the second linear layer, tanh, batch norm's scale and shift",
            _grads("h W2 b2 hpreact bngain bnraw bnbias"),
        ),
        Exercise("1c", "02", "batch norm, step by step", _grads("bnvar_inv bnvar bndiff2 bndiff bnmeani hprebn")),
        Exercise("1d", "02", "the first linear layer and the embedding", _grads("embcat W1 b1 emb C")),
        Exercise("2", "02", "cross-entropy backward in one go", ("dlogits",), uses=()),
        Exercise("3", "02", "batch norm backward in one go", ("dhprebn",), uses=("hpreact",)),
        Exercise("4", "03", "the whole backward pass", tuple("d" + k for k in PARAM_NAMES), function="backward"),
        Exercise("4b", "03", "the training loop, with your backward", ("params", "lossi"), loop=True),
    )
}


def exercises_of(lesson: str | int | None) -> list[Exercise]:
    """The exercises of one lesson (every lesson's with None)."""
    found = [e for e in EXERCISES.values() if lesson is None or e.lesson == f"{int(lesson):02d}"]
    if not found:
        raise ValueError(f"lesson {lesson!r} has no exercises; lessons with exercises: 02, 03")
    return found


def exercise(exercise: str | int) -> Exercise:
    try:
        return EXERCISES[str(exercise)]
    except KeyError:
        raise ValueError(f"no exercise {exercise!r}; the exercises are {', '.join(EXERCISES)}") from None
