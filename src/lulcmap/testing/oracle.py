"""A model whose answer is known for any chip size and stride."""

import numpy as np
import torch

from lulcmap.model.card import InputSpec, ModelCard, Weights
from lulcmap.synthetic.constants import N_CLASSES


# ----------------------------------------------------------------------------------------------
# The oracle model
# ----------------------------------------------------------------------------------------------
def class_code_scene(classes: np.ndarray, *, nodata_mask: np.ndarray | None = None) -> np.ndarray:
    """A uint8 ``(3, H, W)`` scene whose every band holds ``class code + 1`` (0 stays nodata)."""
    codes = np.asarray(classes)
    if codes.ndim != 2 or (codes.size and (codes.min() < 0 or codes.max() > 253)):
        raise ValueError("classes must be a (height, width) array of codes 0..253")
    band = (codes.astype(np.int64) + 1).astype(np.uint8)
    if nodata_mask is not None:
        band[np.asarray(nodata_mask, bool)] = 0
    return np.broadcast_to(band, (3, *band.shape)).copy()


class OracleModel:
    """A model whose answer is known: the fraction of each class code in band 0 of the chip.

    On a :func:`class_code_scene` (pixel value = code + 1) it returns the exact class fractions of
    each chip among its non-zero pixels, so a stitched map must equal the truth for any chip size
    and stride. A chip without valid pixels gets all zeros. Ancillary values are ignored.
    """

    def __init__(
        self, n_classes: int = N_CLASSES, *, chip_size: int = 224, legend: str = "sipna"
    ) -> None:
        self.n_classes = int(n_classes)
        self.ancillary_names: list[str] = []
        self.device = torch.device("cpu")
        self.card = ModelCard(
            id="oracle",
            version="0",
            legend=legend,
            description="lulcmap.testing.OracleModel",
            input=InputSpec.model_validate({"chip_size": chip_size}),
            weights=Weights(file="-", sha256="0" * 64),
        )

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] < 1:
            raise ValueError(f"images must be (N, bands, S, S), got {tuple(images.shape)}")
        n, c = images.shape[0], self.n_classes
        codes = images[:, 0].reshape(n, -1).to(torch.int64)
        if codes.numel() and int(codes.max()) > c:
            raise ValueError(
                f"pixel value {int(codes.max())} is not a class code + 1 of "
                f"{c} classes; build the scene with class_code_scene()"
            )
        offsets = torch.arange(n, device=codes.device)[:, None] * (c + 1)
        counts = torch.bincount((codes + offsets).ravel(), minlength=n * (c + 1))
        counts = counts.reshape(n, c + 1)[:, 1:].to(torch.float64)
        total = counts.sum(dim=1, keepdim=True).clamp_min(1)
        return (counts / total).to(torch.float32)
