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
    grads: tuple[str, ...]  # the tensors whose gradients it asks for, in an order each can be computed in
    kind: str = "grads"  # "grads": gradients in the notebook; "function": backward(params, cache); "loop": 4b
    uses: tuple[str, ...] | None = None  # a one-go gradient: the tensors whose gradients it starts from


# one exercise a line: id | lesson | title | the tensors whose gradients it asks for | kind | uses (none: step by step)
_TABLE = f"""
1a | 02 | from the loss to the logits | logprobs probs counts_sum_inv counts_sum counts norm_logits logit_maxes logits
1b | 02 | the second linear layer, tanh, batch norm's scale and shift | h W2 b2 hpreact bngain bnraw bnbias
1c | 02 | batch norm, step by step | bnvar_inv bnvar bndiff2 bndiff bnmeani hprebn
1d | 02 | the first linear layer and the embedding | embcat W1 b1 emb C
2  | 02 | cross-entropy backward in one go | logits | grads |
3  | 02 | batch norm backward in one go | hprebn | grads | hpreact
4  | 03 | the whole backward pass | {" ".join(PARAM_NAMES)} | function | -
4b | 03 | the training loop, with your backward | params lossi | loop | -
"""
EXERCISES: dict[str, Exercise] = {}
for _row in _TABLE.strip().splitlines():
    _id, _lesson, _title, _grads, _kind, _uses = [field.strip() for field in (_row + " | grads | -").split("|")[:6]]
    EXERCISES[_id] = Exercise(
        _id, _lesson, _title, tuple(_grads.split()), _kind, None if _uses == "-" else tuple(_uses.split())
    )
