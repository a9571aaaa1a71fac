"""Bop (Helwegen et al., 2019) as PaB uses it: learning by flipping the signs of weights."""

from __future__ import annotations

import torch

__all__ = ["Bop"]


class Bop(torch.optim.Optimizer):
    """Flip the sign of a weight when its gradient has pointed the same way for long enough.

    Per weight, m <- (1 - gamma) m + gamma g; the weight's sign flips where |m| >= tau and
    sign(m) == sign(w) (the gradient asks to move it across zero). Magnitudes never change, and a
    weight whose gradient is always zero (a pruned one, behind a fixed mask) never flips.

    The first step starts the average from the gradient itself, m = (1 + gamma) g, as PaB's
    authors do (VITA-Group/Peek-a-Boo, ``bop.py``), not from zero (m = gamma g): so with PaB's
    tiny tau about half the kept weights, those whose first gradient points along them, flip
    at step 1, and the first gradient weighs in the average for about 1/gamma steps.

    gamma is stored as the group's ``lr`` so that ``torch.optim.lr_scheduler`` schedules decay it.
    Each group counts the flips it has made in ``flips`` (saved with the optimiser's state).
    """

    def __init__(self, params, gamma: float = 1e-3, tau: float = 1e-6):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
        super().__init__(params, {"lr": gamma, "tau": tau, "flips": 0})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            gamma, tau = group["lr"], group["tau"]
            flips = 0
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if "momentum" not in state:
                    m = state["momentum"] = w.grad.mul(1 + gamma)
                else:
                    m = state["momentum"]
                    m.mul_(1 - gamma).add_(w.grad, alpha=gamma)
                flip = (m.abs() >= tau) & (torch.sign(m) == torch.sign(w))
                w.mul_(1 - 2 * flip.to(w.dtype))
                flips += int(flip.sum())
            group["flips"] += flips
        return loss
