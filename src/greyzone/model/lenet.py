"""The classic LeNet-5 (LeCun et al. 1998) as the seed notebook used it: tanh and average pooling."""

from __future__ import annotations

import torch
from torch import nn

from greyzone.model.layers import FixedGrid

EMBEDDING_DIM = 84


class LeNet5(nn.Module):
    """Input (B, C, 28, 28) → logits (B, n_classes); ``forward_embed`` also gives the 84-d penultimate tanh
    output. Other input sizes: the first pooled map is average-pooled adaptively to 14 × 14."""

    def __init__(self, n_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            nn.Tanh(),  # (B, 6, 28, 28)
            nn.AvgPool2d(2),  # (B, 6, 14, 14)
            FixedGrid(14),  # (B, 6, 14, 14) whatever the input size
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),  # (B, 16, 10, 10)
            nn.AvgPool2d(2),  # (B, 16, 5, 5)
            nn.Conv2d(16, 120, 5),
            nn.Tanh(),  # (B, 120, 1, 1)
            nn.Flatten(),  # (B, 120)
            nn.Linear(120, EMBEDDING_DIM),
            nn.Tanh(),  # (B, 84)
        )
        self.head = nn.Linear(EMBEDDING_DIM, n_classes)  # (B, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, embedding)`` from one pass."""
        e = self.features(x)
        return self.head(e), e
