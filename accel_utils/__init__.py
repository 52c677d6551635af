"""accel_utils: the measurement core, data, models and helpers shared by the course notebooks.

Notebooks use the names below as ``au.<name>``; the technique modules (``from accel_utils import pruning``)
hold what one lesson builds on. ``core/`` is the measurement core and imports no technique module.
"""
from .core.allocator import keep_freed_memory
from .core.charts import plot_pareto, plot_roofline, plot_speedups
from .core.config import MODES, by_mode, data_dir, get_mode, results_dir
from .core.counting import count_flops, count_params, model_size_bytes, sparsity
from .core.machine import Capabilities, device_class, fingerprint, get_device, probe, synchronize
from .core.memory import peak_memory
from .core.precision import fp32_precision, tf32_active, tolerance
from .core.record import record
from .core.results import load_results
from .core.sizing import by_workload, workload
from .core.stats import (
    Accuracy,
    Difference,
    Measurement,
    Speedup,
    accuracy_difference,
    compare,
    paired_difference,
    wilson_interval,
)
from .core.timing import Measurements, benchmark, table, time_calls, time_first_call
from .core.version import __version__
from .data import KNOWN_DATASETS, DatasetSplits, ImageTensorDataset, SyntheticDataset, load_dataset, make_loaders
from .models import MLP, ResNetSmall, SmallCNN
from .teaching.checks import Check, attempt, check_choice, check_close, check_prediction, check_value
from .teaching.widgets import explore
from .training import History, evaluate, fit, seed_everything

__all__ = [
    "MODE", "MODES", "KNOWN_DATASETS", "__version__",
    # the machine and the run
    "Capabilities", "probe", "fingerprint", "get_device", "device_class", "synchronize", "keep_freed_memory",
    "get_mode", "by_mode", "workload", "by_workload", "data_dir", "results_dir",
    "fp32_precision", "tf32_active", "tolerance",
    # measuring
    "benchmark", "Measurements", "Measurement", "compare", "Speedup", "table", "time_calls", "time_first_call",
    "peak_memory", "count_params", "count_flops", "model_size_bytes", "sparsity",
    "Accuracy", "Difference", "accuracy_difference", "paired_difference", "wilson_interval",
    # results and charts
    "record", "load_results", "plot_speedups", "plot_pareto", "plot_roofline",
    # data, models, training
    "load_dataset", "make_loaders", "DatasetSplits", "ImageTensorDataset", "SyntheticDataset",
    "SmallCNN", "ResNetSmall", "MLP", "fit", "evaluate", "History", "seed_everything",
    # exercises and widgets
    "Check", "check_prediction", "check_value", "check_close", "check_choice", "attempt", "explore",
]


def __getattr__(name: str):
    """``au.MODE`` is read from ACCEL_MODE each time, so a changed environment is seen."""
    if name == "MODE":
        return get_mode()
    raise AttributeError(f"module 'accel_utils' has no attribute {name!r}")
