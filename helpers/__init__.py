"""helpers: the single implementation behind the backprop-ninja lessons (makemore, part 4).

Each module is one concern and names the lesson that introduces it: config, errors, names, dataset (01);
model, backward, gradcheck, forward_map, reference (02); train, runs (03); evaluate (05);
exercises (02, 03: the feedback of the exercise notebooks). What only one lesson needs (its plots, the
sampling loop, the finite-difference referee) is written out in that lesson. Here: what the lessons import.
"""

from .backward import manual_backward
from .config import Config, make_generator, setup_torch
from .dataset import build_dataset, itos, load_splits, split_words, stoi
from .errors import DataError, RunError, TrainingDiverged
from .evaluate import LECTURE_LOSS, UNIFORM_LOSS, split_loss
from .gradcheck import cmp, compare_grads
from .model import PARAM_NAMES, forward, init_params
from .names import load_words, sha256_file
from .runs import Run, describe, load_run, restore_run, save_calibration, save_run
from .train import train
