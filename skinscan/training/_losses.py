"""Losses of the two tasks, over labelled targets only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

__all__ = ["SegmentationLoss", "SeverityLoss", "soft_dice_loss"]


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``valid``; 0 (still differentiable) when nothing is valid."""
    weight = valid.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0
) -> torch.Tensor:
    """``1 − (2 Σ p t + s) / (Σ p + Σ t + s)`` per image and plane, ``p = sigmoid(logits)``.

    Parameters
    ----------
    logits, target : torch.Tensor of shape (N, K, H, W)
        Float logits and {0, 1} masks.
    smooth : float
        Additive smoothing ``s``: an empty plane predicted empty costs ~0 instead of 0/0.

    Returns
    -------
    torch.Tensor of shape (N, K)
        In [0, 1].

    Notes
    -----
    Milletari, Navab & Ahmadi (2016), "V-Net", 3DV: a Dice term is insensitive to how rare the
    foreground is, which the BCE alone is not.
    """
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum((2, 3))
    total = prob.sum((2, 3)) + target.sum((2, 3))
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


class SegmentationLoss(torch.nn.Module):
    """``bce_weight · BCE + dice_weight · soft Dice`` over the labelled planes (``mask_valid``).

    Parameters
    ----------
    mask_names : sequence of str
        Planes in channel order.
    pos_weight : mapping of str to float
        Weight of the positive term of the BCE per plane (default 1): ~ background / foreground
        pixels for a rare class such as wrinkles, so that missing a crease costs what a false
        alarm over the whole background does.
    bce_weight, dice_weight : float
        Weights of the two terms.

    Notes
    -----
    Each image's BCE is the mean over its pixels; each term is then averaged over the
    ``(image, plane)`` pairs whose plane is labelled, so an unlabelled plane adds nothing to
    the loss or its gradient.
    """

    def __init__(
        self,
        mask_names: Sequence[str],
        *,
        pos_weight: Mapping[str, float] | None = None,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
    ) -> None:
        super().__init__()
        weights = [float((pos_weight or {}).get(name, 1.0)) for name in mask_names]
        self.pos_weight: torch.Tensor
        self.register_buffer("pos_weight", torch.tensor(weights).view(1, -1, 1, 1))
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight

    def forward(
        self, logits: torch.Tensor, masks: torch.Tensor, mask_valid: torch.Tensor
    ) -> torch.Tensor:
        """Loss of logits ``(N, K, H, W)`` against masks of that shape and ``mask_valid (N, K)``."""
        if logits.shape != masks.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and masks {tuple(masks.shape)} differ")
        logits = logits.float()
        masks = masks.float()
        bce = F.binary_cross_entropy_with_logits(
            logits, masks, pos_weight=self.pos_weight, reduction="none"
        ).mean((2, 3))
        dice = soft_dice_loss(logits, masks)
        valid = mask_valid.bool()
        return self.bce_weight * _masked_mean(bce, valid) + self.dice_weight * _masked_mean(
            dice, valid
        )


class SeverityLoss(torch.nn.Module):
    """Smooth L1 (Huber) between severities (0-100) over the labelled heads.

    Parameters
    ----------
    beta : float
        Severity points where the loss turns from quadratic to linear: errors within the spread
        of graders' own scores are pulled in gently, large ones do not dominate.
    """

    def __init__(self, *, beta: float = 5.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(
        self, pred: torch.Tensor, severity: torch.Tensor, severity_valid: torch.Tensor
    ) -> torch.Tensor:
        """Loss of ``pred (N, H)`` against ``severity (N, H)`` where ``severity_valid (N, H)``."""
        if pred.shape != severity.shape:
            raise ValueError(
                f"predicted severities {tuple(pred.shape)} and labels {tuple(severity.shape)} "
                "differ: do the model's heads match data.heads?"
            )
        error = F.smooth_l1_loss(pred.float(), severity.float(), beta=self.beta, reduction="none")
        return _masked_mean(error, severity_valid.bool())
