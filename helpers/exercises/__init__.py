"""Exercises with instant feedback: check your hand-written gradients without being shown the answer.

Lesson 02 (exercises 1a-1d, 2, 3) and 03 (exercise 4, the whole backward function; 4b, the training loop).
An exercise notebook makes one `Exercises` object and calls its checks (checks.py); catalogue.py says what
each exercise asks for, hints.py why a gradient is wrong. tools/make_exercises.py generates exercises/ from
the lessons (docs/exercises.md).
"""

from .catalogue import EXERCISES, Exercise
from .checks import Exercises, Feedback

__all__ = ["EXERCISES", "Exercise", "Exercises", "Feedback"]
