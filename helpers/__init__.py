"""helpers: the single implementation behind the backprop-ninja lessons (makemore, part 4).

Each module is one concern and names the lesson that introduces it:
config (01), names (01), dataset (01), plots (01, 03, 04), model (02), backward (02), gradcheck (02),
train and fast (03), checkpoint (03), batchnorm (04), evaluate (04, 05), sample (06);
exercises (02, 03: the feedback checks of the exercise notebooks, imported by them as helpers.exercises).
Here: what the lessons import.
"""

from .backward import manual_backward
from .batchnorm import calibrate
from .checkpoint import load_checkpoint, save_checkpoint
from .config import CHECKPOINT, Config, make_generator, setup_torch
from .dataset import build_dataset, itos, load_splits, split_words, stoi
from .errors import CheckpointError, DataError, TrainingDiverged
from .evaluate import LECTURE_LOSS, UNIFORM_LOSS, split_loss
from .gradcheck import cmp, compare_grads
from .model import PARAM_NAMES, forward, init_params
from .names import NAMES_PATH, load_words, sha256_file
from .sample import sample_names
from .train import TrainResult, sgd_step, train

__all__ = [
    "CHECKPOINT",
    "LECTURE_LOSS",
    "NAMES_PATH",
    "PARAM_NAMES",
    "UNIFORM_LOSS",
    "CheckpointError",
    "Config",
    "DataError",
    "TrainResult",
    "TrainingDiverged",
    "build_dataset",
    "calibrate",
    "cmp",
    "compare_grads",
    "forward",
    "init_params",
    "itos",
    "load_checkpoint",
    "load_splits",
    "load_words",
    "make_generator",
    "manual_backward",
    "sample_names",
    "save_checkpoint",
    "setup_torch",
    "sgd_step",
    "sha256_file",
    "split_loss",
    "split_words",
    "stoi",
    "train",
]
