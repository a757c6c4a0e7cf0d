"""Which precision training runs in: ``mixed_precision=auto`` decided from the hardware.

    precision = resolve_precision("auto", EncoderInfo.load(encoder_dir))
    precision.policy          # the Keras policy: mixed_bfloat16, mixed_float16 or float32
    precision.encoder_dtype   # what the encoder's dense layers and attention matmuls run in

``auto`` picks bfloat16 where the hardware computes it natively: CPUs with AVX-512 BF16 or AMX
(oneDNN's bf16 kernels) and GPUs of compute capability >= 8.0 (Ampere and later); float16 with
loss scaling (Keras wraps the optimizer in a ``LossScaleOptimizer`` under ``mixed_float16``) on
older GPUs; float32 elsewhere, where 16-bit arithmetic would be emulated and slower.
Variables, LayerNorm, softmax and logits stay float32 in every case (see ``encoders/bert.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from components.contracts import EncoderInfo

POLICY_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclasses.dataclass(frozen=True)
class Precision:
    """The decision and why it was made (it goes to the train log and the model card)."""

    requested: str
    policy: str
    encoder_dtype: str
    reason: str

    def describe(self) -> str:
        return (f"precision: {self.policy} (requested {self.requested}; encoder computes in "
                f"{self.encoder_dtype}): {self.reason}")


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The CPU's native bfloat16 features among ``BF16_CPU_FLAGS`` (none when unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return []
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return [f for f in BF16_CPU_FLAGS if f in flags]


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """(major, minor) of every visible GPU."""
    import tensorflow as tf  # here, so that the CPU check above imports no TF (benchmark planners)

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            found.append(tuple(capability))
    return found


def auto_policy(gpus: list[tuple[int, int]], cpu_flags: list[str]) -> tuple[str, str]:
    """(policy, reason) for the hardware described."""
    if gpus:
        lowest = min(gpus)
        if lowest >= (8, 0):
            return "mixed_bfloat16", f"GPU compute capability {lowest[0]}.{lowest[1]} >= 8.0"
        return ("mixed_float16", f"GPU compute capability {lowest[0]}.{lowest[1]} < 8.0: "
                "float16 with dynamic loss scaling")
    if cpu_flags:
        return "mixed_bfloat16", f"CPU has {'/'.join(cpu_flags)}"
    return "float32", "no GPU and no native bfloat16 on this CPU"


def resolve_precision(requested: str, encoder: EncoderInfo,
                      gpus: list[tuple[int, int]] | None = None,
                      cpu_flags: list[str] | None = None) -> Precision:
    """The policy for ``requested`` (``auto``, a Keras policy, or ``""`` for float32)."""
    if requested == "auto":
        policy, reason = auto_policy(gpu_compute_capabilities() if gpus is None else gpus,
                                     cpu_bf16_flags() if cpu_flags is None else cpu_flags)
    else:
        policy, reason = requested or "float32", "as configured"
    dtype = POLICY_DTYPE[policy]
    if dtype not in encoder.compute_dtypes:
        reason += f"; this encoder export computes in float32 only (it has no {dtype} function)"
        dtype = "float32"
    return Precision(requested=requested or "float32", policy=policy, encoder_dtype=dtype,
                     reason=reason)
