"""Training colourisers: the TrainConfig, the loop behind ``colorcli train``, and its pieces.

Start with :func:`train` (or :func:`load_resume` then :func:`train` to continue a run).
"""

from colorcli.training.config import TrainConfig, build_config, load_config_file, parse_colors
from colorcli.training.loop import TrainResult, load_resume, train
from colorcli.training.progress import ConsoleProgress, RunStart, StepUpdate, TrainingObserver
from colorcli.training.run_folder import RunFolder, read_training_state
from colorcli.training.schedule import learning_rate

__all__ = [
    "ConsoleProgress",
    "RunFolder",
    "RunStart",
    "StepUpdate",
    "TrainConfig",
    "TrainResult",
    "TrainingObserver",
    "build_config",
    "learning_rate",
    "load_config_file",
    "load_resume",
    "parse_colors",
    "read_training_state",
    "train",
]
