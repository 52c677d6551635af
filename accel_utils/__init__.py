"""accel_utils: the measurement harness, data, models and helpers shared by the course notebooks."""
from .allocator import keep_freed_memory
from .checks import Check, check_close, check_explanation, check_prediction, check_speedup_claim
from .config import MODES, by_mode, data_dir, get_mode, results_dir
from .counting import count_flops, count_params, model_size_bytes, sparsity
from .data import KNOWN_DATASETS, DatasetSplits, ImageTensorDataset, SyntheticDataset, load_dataset, make_loaders
from .hardware import Capabilities, fingerprint, get_device, probe
from .measure import Measurement, Speedup, benchmark, benchmark_interleaved, compare, table, time_calls, time_first_call
from .memory import peak_memory
from .models import MLP, ResNetSmall, SmallCNN
from .plots import plot_pareto, plot_roofline, plot_speedups
from .results import load_results, record
from .training import History, evaluate, fit, seed_everything
from .widgets import explore

__version__ = "0.1.0"


def __getattr__(name: str):
    """``au.MODE`` is read from ACCEL_MODE each time, so a changed environment is seen."""
    if name == "MODE":
        return get_mode()
    raise AttributeError(f"module 'accel_utils' has no attribute {name!r}")
