"""accel_utils: the measurement core, data, models and helpers shared by the course notebooks.

Notebooks use the names below as ``au.<name>``; the technique modules (``from accel_utils import pruning``)
hold what one lesson builds on. ``core/`` is the measurement core and imports no technique module.
Names are imported on first use, so ``python -m accel_utils.core.report`` reads results without PyTorch.
"""
from __future__ import annotations

import importlib

from .core.config import get_mode
from .core.version import __version__

_WHERE = {  # public name -> the module that defines it
    "keep_freed_memory": ".core.allocator",
    "plot_pareto": ".core.charts", "plot_roofline": ".core.charts", "plot_speedups": ".core.charts",
    "MODES": ".core.config", "by_mode": ".core.config", "data_dir": ".core.config", "get_mode": ".core.config", "results_dir": ".core.config",
    "count_flops": ".core.counting", "count_params": ".core.counting", "model_size_bytes": ".core.counting", "sparsity": ".core.counting",
    "Capabilities": ".core.machine", "device_class": ".core.machine", "fingerprint": ".core.machine", "get_device": ".core.machine", "probe": ".core.machine", "synchronize": ".core.machine",
    "peak_memory": ".core.memory",
    "fp32_precision": ".core.precision", "tf32_active": ".core.precision", "tolerance": ".core.precision",
    "op_table": ".core.profiling", "native_stderr_filtered": ".core.profiling",
    "quiet_libraries": ".core.quiet",
    "record": ".core.record",
    "load_results": ".core.results",
    "by_workload": ".core.sizing", "workload": ".core.sizing",
    "Accuracy": ".core.stats", "Difference": ".core.stats", "Measurement": ".core.stats", "Speedup": ".core.stats", "accuracy_difference": ".core.stats", "compare": ".core.stats", "paired_difference": ".core.stats", "paired_speedup": ".core.stats", "wilson_interval": ".core.stats",
    "Measurements": ".core.timing", "benchmark": ".core.timing", "table": ".core.timing", "time_calls": ".core.timing", "time_first_call": ".core.timing",
    "KNOWN_DATASETS": ".data", "DatasetSplits": ".data", "ImageTensorDataset": ".data", "SyntheticDataset": ".data", "load_dataset": ".data", "make_loaders": ".data",
    "MLP": ".models", "ResNetSmall": ".models", "SmallCNN": ".models",
    "Check": ".teaching.checks", "attempt": ".teaching.checks", "check_choice": ".teaching.checks", "check_close": ".teaching.checks", "check_prediction": ".teaching.checks", "check_value": ".teaching.checks",
    "explore": ".teaching.widgets",
    "History": ".training", "evaluate": ".training", "fit": ".training", "seed_everything": ".training",
}

__all__ = ["MODE", "__version__", *_WHERE]


def __getattr__(name: str):
    """Import a public name on first use; ``au.MODE`` is read from ACCEL_MODE each time."""
    if name == "MODE":
        return get_mode()
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'accel_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
