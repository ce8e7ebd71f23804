"""The models a run can train, by name: what each is and the recipe it trains best with. No torch here:
argparse's choices, the Setup tab and validation read it before (or without) PyTorch loading.

Adding a model is an entry here and its module in engine/models.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    model: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)  # RunConfig fields this model trains best with


RECIPES: dict[str, Recipe] = {
    recipe.model: recipe
    for recipe in (
        Recipe(
            "linear",
            "Logistic regression: one nn.Linear (784 -> 10)",
            dict(epochs=5, batch_size=256, lr=0.01, optimizer="adam", schedule="onecycle"),
        ),
        Recipe(
            "mlp",
            "Two hidden nn.Linear layers (512, 256) with ReLU and dropout",
            dict(epochs=8, batch_size=256, lr=0.003, optimizer="adam", schedule="onecycle"),
        ),
        Recipe(
            "cnn",
            "Compact 2-conv CNN: fast, 99% test accuracy in two passes",
            dict(epochs=2, batch_size=256, lr=0.01, optimizer="adam", schedule="onecycle"),
        ),
        Recipe(
            "best",
            "3-block batch-norm CNN with on-device augmentation: 99.5%",
            dict(
                epochs=15,
                batch_size=256,
                lr=0.005,
                optimizer="adamw",
                schedule="onecycle",
                weight_decay=0.05,  # AdamW decays decoupled from the gradient: 5e-4 barely acted
                augment=True,
            ),
        ),
    )
}
MODEL_NAMES = tuple(RECIPES)
