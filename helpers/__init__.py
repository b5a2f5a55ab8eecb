"""helpers: the single implementation behind the backprop-ninja lessons (makemore, part 4).

Each module is one concern and names the lesson that introduces it:
config (01), names (01), dataset (01), plots (01, 03, 04), model (02), backward (02), gradcheck (02),
train (03), checkpoint (03), batchnorm (04), evaluate (04, 05), sample (06);
exercises (02, 03: the feedback checks of the exercise notebooks, imported by them as helpers.exercises).
"""

from .backward import manual_backward
from .batchnorm import calibrate
from .checkpoint import load_checkpoint, save_checkpoint
from .config import ARTIFACTS, CHECKPOINT, ROOT, Config, make_generator, setup_torch
from .dataset import Splits, build_dataset, itos, load_splits, split_words, stoi
from .errors import CheckpointError, DataError, TrainingDiverged
from .evaluate import LECTURE_LOSS, UNIFORM_LOSS, split_loss
from .gradcheck import GradCheck, cmp, compare_grads
from .model import BN_EPS, PARAM_NAMES, count_params, forward, init_params
from .names import NAMES_PATH, NAMES_SHA256, fetch_names, load_words, sha256_file
from .sample import sample_names
from .train import TrainResult, sgd_step, train

__all__ = [
    "ARTIFACTS", "BN_EPS", "CHECKPOINT", "LECTURE_LOSS", "NAMES_PATH", "NAMES_SHA256", "PARAM_NAMES", "ROOT",
    "UNIFORM_LOSS", "CheckpointError", "Config", "DataError", "GradCheck", "Splits", "TrainResult",
    "TrainingDiverged", "build_dataset", "calibrate", "cmp", "compare_grads", "count_params", "fetch_names",
    "forward", "init_params", "itos", "load_checkpoint", "load_splits", "load_words", "make_generator",
    "manual_backward", "sample_names", "save_checkpoint", "setup_torch", "sgd_step", "sha256_file",
    "split_loss", "split_words", "stoi", "train",
]
