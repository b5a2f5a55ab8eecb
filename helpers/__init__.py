"""helpers: the single implementation behind the backprop-ninja lessons (makemore, part 4).

Each module is one concern and names the lesson that introduces it: config, names, dataset (01); model,
backward, gradcheck, forward_map, reference (02); train, fast, checkpoint (03); batchnorm, evaluate (04, 05);
sample (06); plots (01, 03, 04); exercises (02, 03: the feedback checks of the exercise notebooks).
Here: what the lessons import.
"""

from .backward import manual_backward
from .batchnorm import calibrate
from .checkpoint import describe, load_checkpoint, load_run, save_calibration, save_checkpoint
from .config import Config, make_generator, setup_torch
from .dataset import build_dataset, itos, load_splits, split_words, stoi
from .errors import CheckpointError, DataError, TrainingDiverged
from .evaluate import LECTURE_LOSS, UNIFORM_LOSS, split_loss
from .gradcheck import cmp, compare_grads
from .model import PARAM_NAMES, forward, init_params
from .names import NAMES_PATH, load_words, sha256_file
from .sample import sample_names
from .train import TrainResult, train
