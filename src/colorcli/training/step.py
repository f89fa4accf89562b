"""One optimizer step: learning rate, encoder stage, simulated guidance, AMP, backward, clipping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from colorcli.errors import UsageError
from colorcli.guidance import simulate_training_hints, simulate_training_reference
from colorcli.models import ColorModel
from colorcli.training.config import TrainConfig
from colorcli.training.schedule import learning_rate
from colorcli.training.validation import autocast

if TYPE_CHECKING:
    from colorcli.training.run_setup import RunParts

HINTS_ONLY_NO_HINT = 0.1
"""--hints-only: share of images with a reference but no local hint."""


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--amp mode`` on ``device`` (None: full precision).

    Raises:
        UsageError: the device cannot run the asked precision.
    """
    if mode == "off":
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16":
        if device.type != "cuda":
            raise UsageError(f"--amp fp16 needs a CUDA device (training on {device.type})")
        return torch.float16
    if device.type == "mps":
        raise UsageError("--amp bf16 is not supported on MPS; use --amp off")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("--amp bf16: this GPU has no bfloat16 support; use --amp fp16")
    return torch.bfloat16


def amp_name(dtype: torch.dtype | None) -> str:
    """``off``, ``bf16`` or ``fp16``: the name of an :func:`amp_dtype` result."""
    return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@dataclass(frozen=True)
class Compute:
    """How the model runs: its device, the autocast dtype and the memory layout of inputs.

    Attributes:
        device: where the model and its batches live.
        amp_dtype: autocast dtype, or None for full precision.
        channels_last: feed channels-last inputs (CUDA).
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def for_training(cls, amp: str, device: torch.device) -> Compute:
        """``--amp amp`` on ``device``, channels-last on CUDA (see :func:`amp_dtype`)."""
        return cls(device, amp_dtype(amp, device), channels_last=device.type == "cuda")

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def param_groups(
    model: nn.Module, weight_decay: float, encoder_lr: float = 1.0
) -> list[dict[str, Any]]:
    """Decay weight matrices and convolution kernels, not biases or norms (nanoGPT).

    A body with a staged pretrained encoder (``set_trainable_levels``) gets two more groups
    holding all its encoder parameters, frozen or not, at ``encoder_lr`` × the learning
    rate: frozen ones have no gradient and are skipped by the optimizer until unfrozen.
    """
    encoder: list[nn.Parameter] = []
    body = getattr(model, "body", None)
    if body is not None and hasattr(body, "set_trainable_levels"):
        encoder = list(body.encoder_parameters())
    encoder_ids = {id(p) for p in encoder}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in encoder_ids]
    groups: list[dict[str, Any]] = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    if encoder:
        groups += [
            {
                "params": [p for p in encoder if p.dim() >= 2],
                "weight_decay": weight_decay,
                "lr_scale": encoder_lr,
            },
            {
                "params": [p for p in encoder if p.dim() < 2],
                "weight_decay": 0.0,
                "lr_scale": encoder_lr,
            },
        ]
    return groups


def set_encoder_stage(model: nn.Module, config: TrainConfig, step: int, total_steps: int) -> None:
    """Freeze a pretrained encoder for the first ``freeze_encoder`` of the steps, then train
    its top ``unfreeze_levels`` levels (a pure function of the step, so resume agrees)."""
    body = getattr(model, "body", None)
    if body is None or not hasattr(body, "set_trainable_levels"):
        return
    if not bool(getattr(body, "imagenet_statistics", False)):
        return  # trained from scratch: every level trains from the start
    frozen = step < config.freeze_encoder * total_steps
    levels = 0 if frozen else config.unfreeze_levels
    if body.trainable_levels != levels:
        body.set_trainable_levels(levels)


def simulated_guidance(
    model: ColorModel, config: TrainConfig, step: int, ab: Tensor, device: torch.device
) -> tuple[Tensor, ...]:
    """Guided models: hints and a reference simulated from the true ``ab`` (CPU, seeded
    by the step, so a resumed run draws the same); others: nothing.

    Args:
        model: the model being trained.
        config: the run's settings (``seed``, ``hints_only``).
        step: optimizer steps done before this one.
        ab: the batch's true colours, ``(B, 2, H, W)`` on the CPU.
        device: where the model runs.

    Returns:
        ``()``, or ``(hints, reference)`` on ``device`` as the model's forward takes them.
    """
    if not model.accepts_hints:
        return ()
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    if config.hints_only:
        # a frozen base learns nothing from an image with no guidance (its branch
        # is gated off), so every image gets hints, a reference or both
        hints = simulate_training_hints(ab, generator, no_hint_fraction=HINTS_ONLY_NO_HINT)
        unhinted = hints[:, 2].flatten(1).amax(dim=1) == 0
        reference = simulate_training_reference(ab, generator, force=unhinted)
    else:
        hints = simulate_training_hints(ab, generator)
        reference = simulate_training_reference(ab, generator)
    pin = device.type == "cuda"
    return (
        hints.to(device, non_blocking=pin),
        reference.to(device, non_blocking=pin),
    )


def build_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW or Adam over :func:`param_groups`, fused on CUDA."""
    fused = device.type == "cuda"
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(
        param_groups(model, config.weight_decay, config.encoder_lr),
        lr=config.lr,
        fused=fused or None,
    )


class TrainStep:
    """Forward and update for one batch; :attr:`updating` is True while the weights change.

    Args:
        config: the run's settings (schedule, clipping, guidance simulation).
        parts: the model, its forward (DDP) wrapper, optimizer, scaler and step count.
        compute: how the model runs.
    """

    def __init__(self, config: TrainConfig, parts: RunParts, compute: Compute) -> None:
        self.config = config
        self.parts = parts
        self.compute = compute
        self.updating = False

    def lr(self, step: int) -> float:
        """The scheduled learning rate for optimizer step ``step`` (0-based)."""
        return learning_rate(
            step,
            schedule=self.config.schedule,
            lr=self.config.lr,
            total_steps=self.parts.total_steps,
            warmup_steps=self.config.warmup_steps,
        )

    def forward(self, batch: dict[str, Tensor], step: int) -> tuple[Tensor, int, float]:
        """Set the step's learning rate and encoder stage, then compute the loss of ``batch``.

        Args:
            batch: ``lightness`` ``(B, 1, H, W)`` and ``ab`` ``(B, 2, H, W)`` from the loader.
            step: optimizer steps done before this one.

        Returns:
            ``(loss, images, lr)``: the scalar loss (not yet checked), ``B`` and the rate used.
        """
        parts, device = self.parts, self.compute.device
        pin = device.type == "cuda"
        lightness = batch["lightness"].to(device, non_blocking=pin)
        ab = batch["ab"].to(device, non_blocking=pin)
        lightness = lightness.contiguous(memory_format=self.compute.memory_format)
        lr = self.lr(step)
        for group in parts.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        set_encoder_stage(parts.model, self.config, step, parts.total_steps)
        guidance = simulated_guidance(parts.model, self.config, step, batch["ab"], device)
        with autocast(device, self.compute.amp_dtype):
            output = parts.forward_model(lightness, *guidance)
            loss = parts.model.loss(output, ab)
        return loss, int(lightness.shape[0]), lr

    def update(self, loss: Tensor) -> None:
        """Backward (scaled under fp16), clip if asked, and step the optimizer."""
        optimizer, scaler = self.parts.optimizer, self.parts.scaler
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.config.clip_grad is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.parts.model.parameters(), self.config.clip_grad)
        self.updating = True
        scaler.step(optimizer)
        scaler.update()
        self.updating = False
