"""The learning-rate schedule: a pure function of the step, so resuming the step resumes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up, a constant plateau, then an optional linear decay."""

    lr: float = 2e-4
    warmup_steps: int = 0
    """Steps from lr/warmup_steps up to lr (for a state whose discriminator and moments are
    fresh; 0: none)."""
    decay_start: int = 0
    """Step at which the linear decay begins (0: never)."""
    decay_steps: int = 20_000
    final_fraction: float = 0.1
    """lr * final_fraction is held after the decay."""

    def at(self, step: int) -> float:
        """Learning rate of the update made at ``step`` (0-based)."""
        lr = self.lr * min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else self.lr
        if self.decay_start and step >= self.decay_start:
            progress = min(1.0, (step - self.decay_start) / self.decay_steps)
            lr *= 1.0 - (1.0 - self.final_fraction) * progress
        return lr
