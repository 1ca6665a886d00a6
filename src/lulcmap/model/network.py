"""The LULC abundance network, in plain torch (nn.Module only, no I/O).

Two branches, as in the published multi-task CNN: a CNN on the RGB chip and a small MLP on the
ancillary vector. Their pooled features are concatenated and feed the heads:

* **abundances** (N2): a fine map of class logits (1/8 of the chip's resolution) plus a per-chip
  bias from the concatenated features; a softmax at every location, averaged over the chip. The
  result is a proper mixture (non-negative, sums to 1), and it is what an abundance is: the mean
  of per-location class memberships. N1 is the legend's sum of N2, so the levels always agree.
* **presence** (auxiliary task, sigmoid): whether each N2 class occurs in the chip.

The network takes the chip as uint8 ``(N, 3, H, W)`` in the card's radiometry and the raw
ancillary values ``(N, A)``; normalisation statistics come from the model card as buffers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            cin, cout, k, stride=s, padding=(k - 1) // 2 if s == 1 else (k - s + 1) // 2, bias=False
        ),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LulcNet(nn.Module):
    """RGB CNN + ancillary MLP with an abundance head (N2) and a presence head.

    Args:
        n_classes: number of N2 classes.
        n_ancillary: length of the ancillary vector (0: no ancillary branch).
        widths: channels of the stem and the three stages.
        anc_hidden: width of the ancillary MLP.
        image_mean, image_std: per-band statistics of the image scaled to [0, 1].
        anc_mean, anc_std: per-variable statistics of the raw ancillary values.
    """

    def __init__(
        self,
        n_classes: int = 10,
        n_ancillary: int = 7,
        *,
        widths: Sequence[int] = (24, 48, 96, 128),
        anc_hidden: int = 32,
        image_mean: Sequence[float] = (0.5, 0.5, 0.5),
        image_std: Sequence[float] = (0.25, 0.25, 0.25),
        anc_mean: Sequence[float] | None = None,
        anc_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.image_mean: torch.Tensor
        self.image_std: torch.Tensor
        self.anc_mean: torch.Tensor
        self.anc_std: torch.Tensor
        w0, w1, w2, w3 = widths
        self.n_classes = n_classes
        self.n_ancillary = n_ancillary
        self.register_buffer(
            "image_mean", torch.tensor(image_mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "image_std", torch.tensor(image_std).view(1, 3, 1, 1), persistent=False
        )
        am = torch.tensor(anc_mean if anc_mean is not None else [0.0] * n_ancillary)
        sd = torch.tensor(anc_std if anc_std is not None else [1.0] * n_ancillary)
        self.register_buffer("anc_mean", am.view(1, -1), persistent=False)
        self.register_buffer("anc_std", sd.clamp_min(1e-6).view(1, -1), persistent=False)

        self.stem = _conv(3, w0, k=4, s=4)  # 1/4
        self.stage1 = nn.Sequential(_conv(w0, w1, s=2), _conv(w1, w1))  # 1/8: the fine map
        self.stage2 = nn.Sequential(_conv(w1, w2, s=2), _conv(w2, w2))  # 1/16
        self.stage3 = nn.Sequential(_conv(w2, w3, s=2), _conv(w3, w3))  # 1/32
        self.local_head = nn.Conv2d(w1, n_classes, 1)
        if n_ancillary:
            self.anc_mlp = nn.Sequential(
                nn.Linear(n_ancillary, anc_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(anc_hidden, anc_hidden),
                nn.ReLU(inplace=True),
            )
        fused = w3 + (anc_hidden if n_ancillary else 0)
        self.bias_head = nn.Linear(fused, n_classes)
        self.presence_head = nn.Linear(fused, n_classes)

    def forward(
        self, image: torch.Tensor, ancillary: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(abundance (N, C) summing to 1, presence logits (N, C))``."""
        x = image.float().div_(255.0).sub_(self.image_mean).div_(self.image_std)
        fine = self.stage1(self.stem(x))
        context = self.stage3(self.stage2(fine)).mean(dim=(2, 3))
        feats = [context]
        if self.n_ancillary:
            a = (ancillary.float() - self.anc_mean) / self.anc_std
            feats.append(self.anc_mlp(a))
        fused = torch.cat(feats, dim=1)
        logits = self.local_head(fine) + self.bias_head(fused)[:, :, None, None]
        abundance = torch.softmax(logits.float(), dim=1).mean(dim=(2, 3))
        return abundance, self.presence_head(fused)


__all__ = ["LulcNet"]
