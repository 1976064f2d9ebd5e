"""Where the recipes find things: the repository root, the shared data folder, work folders."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_dir(arg=None):
    """arg if given, else $PARLEY_DATA_DIR, else ../shared/data next to the repository."""
    return arg or os.environ.get("PARLEY_DATA_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "data")


def work_dir(*parts):
    """train/work/<parts> (git-ignored): checkpoints, logs, generated data."""
    return os.path.join(ROOT, "train", "work", *parts)


def models_dir(*parts):
    """models/<parts>: the shipped model directories."""
    return os.path.join(ROOT, "models", *parts)
