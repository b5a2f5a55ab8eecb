"""Exercises with instant feedback: check your hand-written gradients without being shown the answer.

Lesson 02 (exercises 1a-1d, 2, 3: `check` per gradient) and 03 (exercise 4: `check_backward` for the whole
backward function; 4b: `check_loop` for the training loop). tools/make_exercises.py generates exercises/
from the catalogue (docs/exercises.md). catalogue: the exercises; checks: the checks and their feedback;
mistakes: why a gradient is wrong. A check never prints the right numbers or a line of code to copy.
"""

from .catalogue import EXERCISES, Exercise
from .checks import PROGRESS, Feedback, begin, check, check_backward, check_loop, progress, solved

__all__ = ["EXERCISES", "PROGRESS", "Exercise", "Feedback", "begin", "check", "check_backward", "check_loop"]
__all__ += ["progress", "solved"]
