"""The course map: notebook file stems, titles and what each teaches (the one list tools and tests read)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course."""

    number: str
    stem: str
    title: str
    teaches: str
    gpu: str  # what a GPU adds: "CPU ok" or what it shows more of

    @property
    def filename(self) -> str:
        """The notebook's file name under notebooks/."""
        return f"{self.stem}.ipynb"


COURSE = (
    Lesson("00", "00_start_here", "Start here: measuring honestly", "how the course works; honest timing; speedups with confidence intervals", "CPU ok"),
    Lesson("01", "01_hardware_and_roofline", "Hardware and the roofline", "CPU vs GPU vs accelerators; peak FLOP/s, bandwidth, what limits a kernel", "CPU ok; GPU adds fp16/bf16 tensor cores and copies"),
    Lesson("02", "02_mixed_precision", "Mixed precision", "autocast (bf16/fp16), GradScaler, channels_last", "CPU ok with bf16; GPU shows fp16 + GradScaler"),
    Lesson("03", "03_batch_size", "Batch size", "latency vs throughput; gradient accumulation", "CPU ok; GPU shows OOM search"),
    Lesson("04", "04_data_pipeline", "The data pipeline", "DataLoader workers, pinning, prefetch, caching", "CPU ok; GPU shows pinning and GPU augmentation"),
    Lesson("05", "05_optimizers_and_schedules", "Optimizers and learning-rate schedules", "SGD/Adam/AdamW, warm-up, cosine, OneCycle; fused steps; time-to-accuracy", "CPU ok"),
    Lesson("06", "06_compilation", "Compilation", "torch.compile, graph breaks, recompiles, inference_mode, CUDA graphs", "CPU ok; GPU shows CUDA graphs"),
    Lesson("07", "07_distributed_training", "Distributed training with DDP", "DDP with torchrun, correctness, scaling", "CPU ok (gloo); 2+ GPUs show NCCL scaling"),
    Lesson("08", "08_pruning", "Pruning", "unstructured vs structured pruning, sensitivity, fine-tuning", "CPU ok; Ampere+ shows 2:4 sparsity"),
    Lesson("09", "09_quantization", "Quantization", "INT8 from scratch; dynamic, static PTQ, QAT; current toolchains", "CPU ok"),
    Lesson("10", "10_knowledge_distillation", "Knowledge distillation", "teacher/student, temperature, soft targets", "CPU ok"),
    Lesson("11", "11_lightweight_architectures", "Lightweight architectures", "depthwise-separable convs, MobileNet/EfficientNet blocks; FLOPs vs latency", "CPU ok"),
    Lesson("12", "12_dynamic_inference", "Dynamic inference: early exit", "multi-exit networks and exit policies", "CPU ok"),
    Lesson("13", "13_export_and_deployment", "Export and deployment", "torch.export, ONNX, ONNX Runtime, TensorRT", "CPU ok; GPU shows TensorRT"),
    Lesson("14", "14_capstone", "Capstone: combining techniques", "a chain of techniques, every prefix measured", "CPU ok"),
    Lesson("15", "15_transformer_inference", "Advanced: transformer inference", "attention kernels (naive vs SDPA), the KV cache, batching requests", "CPU ok; GPU shows flash attention"),
    Lesson("16", "16_llm_decoding", "Advanced: decoding at a realistic size", "the decode roofline, weight-only INT8/4-bit (FP8 on Hopper), speculative decoding", "CPU ok; GPU shows 4-bit kernels and FP8"),
)


def lesson(stem_or_number: str) -> Lesson:
    """The Lesson for a file stem ('03_batch_size') or a number ('03')."""
    for item in COURSE:
        if stem_or_number in (item.stem, item.number, item.filename):
            return item
    raise KeyError(f"no notebook {stem_or_number!r} in the course; known: {', '.join(item.stem for item in COURSE)}")
