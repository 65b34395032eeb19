"""Per-architecture recipes: training a base (:data:`TRAIN`, :func:`leanet.train.train_base`)
and jointly fine-tuning its width levels (:data:`FINE_TUNE`, :func:`leanet.train.fine_tune`).

The study's networks were trained and fine-tuned with these (``benchmarks/study_networks.py``),
the design-search benchmarks fine-tune every design with them, and ``leanet train``,
``leanet fit-heads`` and ``leanet design`` read them, so a user's network is trained as the
measured ones were. An architecture not listed gets the functions' own settings
(:data:`DEFAULT` for fine-tuning: the ConvNet's and VGG-16's recipe).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "DEFAULT",
    "FINE_TUNE",
    "TRAIN",
    "Recipe",
    "TrainRecipe",
    "fine_tune_epochs",
    "fine_tune_options",
    "recipe_for",
    "train_recipe_for",
]


class TrainRecipe(NamedTuple):
    """Training a base network from scratch (:func:`leanet.train.train_base`, AdamW):
    epochs, learning rate, weight decay."""

    epochs: int
    lr: float = 2e-3
    weight_decay: float = 5e-4


#: The study's bases (``benchmarks/study_networks.py``, NETS, which also sizes them) and
#: ``leanet train``'s defaults. MobileNet overfits the 3333 MNIST training images at the
#: default weight decay (train accuracy 1.0, test 0.926 on mnist5k at seed 0); AdamW's usual
#: 0.05 fixes it (test 0.971, 20 epochs), and its fine-tune recipe below assumes it.
TRAIN = {
    "convnet": TrainRecipe(4),
    "vgg16": TrainRecipe(10),
    "mobilenet": TrainRecipe(20, lr=5e-3, weight_decay=5e-2),
}


def train_recipe_for(arch: str | None) -> TrainRecipe:
    """The training recipe of architecture ``arch`` (train_base's defaults if unknown)."""
    return TRAIN.get(str(arch), TrainRecipe(8))


class Recipe(NamedTuple):
    """Joint fine-tuning of a width LEANet: learning rate, distillation weight (teacher: the
    pretrained network), epochs, weight decay, and the early-stopping patience on the
    validation split (None: all epochs, the cosine schedule run to its end, and the
    validation split left for the threshold choice alone). Several distillation weights (a
    tuple): each is fine-tuned and the LEANet whose dense validation front has the largest
    hypervolume is kept (the study's ``chosen_on_validation``)."""

    lr: float
    distill: float | tuple[float, ...]
    epochs: int
    weight_decay: float = 1e-4  # leanet.train.fine_tune's default
    patience: int | None = None


#: :func:`leanet.train.fine_tune`'s own settings, 10 epochs: the ConvNet's and VGG-16's
#: recipe, and that of an architecture not in :data:`FINE_TUNE`.
DEFAULT = Recipe(5e-4, 0.0, 10)

# Per architecture. MobileNet's triangular levels lose half the inputs of every pointwise
# convolution at level 1 and need the base's training recipe, distillation and more epochs;
# measured on mnist5k, seed 0, mean validation accuracy of the 5 levels (full network
# 0.940, a base trained at weight decay 5e-4): 0.61 after 10 epochs at 5e-4 without
# distillation, 0.87 at 2e-3, 0.906 at 2e-3 with distillation, 0.924 after 20 epochs of
# that. On the base of the study's recipe (benchmarks/study_networks.py, NETS), seed 1
# (full network 0.958 on test), the hybrid's levels 1-4 scored 0.938-0.939 on test at lr
# 2e-3 and weight decay 1e-4, and 0.965-0.966 at the base's lr 5e-3 and weight decay 0.05.
# ConvNet and VGG-16 levels reach the full network's in 10 epochs at 5e-4.
# Every recipe runs all its epochs: early stopping on validation (patience 3) stopped
# MobileNet at epochs 7-16 of its 20-epoch cosine schedule, with the learning rate still
# high, and chose the epoch on the split the thresholds are then chosen on. All 20 epochs
# lifted the mnist5k hybrid's levels 1-4 on test from 0.956-0.957 / 0.965-0.966 /
# 0.946-0.948 to 0.960-0.964 / 0.965-0.966 / 0.971-0.974 (seeds 0 / 1 / 2); ConvNet hybrids
# (both data sets, 3 seeds) and VGG-16 (mnist5k, seed 0) scored the same or up to a point
# better, and no 0%-loss choice lost more on test (/work/runs/s23 logs, in the
# leanet_seeds results' note). MobileNet's levels were still rising at 20 epochs: on the
# digits8x8 hybrid, 40 epochs lifted levels 1-4 on test from 0.960 / 0.973 / 0.946-0.957
# to 0.973-0.977 / 0.967 / 0.963 (seeds 0 / 1 / 2; full networks 0.990 / 0.973 / 0.970).
# Without distillation (3 seeds x 4 MobileNet networks) the test front rose on 6 and fell
# on 6: neither weight is better everywhere, so each network is fine-tuned with both and
# keeps the one whose validation front is larger (benchmarks/results/mobilenet_distillation.md).
FINE_TUNE = {
    "convnet": DEFAULT,
    "vgg16": DEFAULT,
    "mobilenet": Recipe(5e-3, (1.0, 0.0), 40, weight_decay=5e-2),
}


def recipe_for(arch: str | None) -> Recipe:
    """The fine-tune recipe of architecture ``arch`` (a base's ``config["arch"]``)."""
    return FINE_TUNE.get(str(arch), DEFAULT)


def fine_tune_options(recipe: Recipe) -> dict[str, Any]:
    """``recipe`` as keyword arguments of :func:`leanet.train.fine_tune` (epochs apart).
    Of several distillation weights the first is taken: choosing among them on validation
    (as the study does) costs a fine-tune each."""
    distill = recipe.distill[0] if isinstance(recipe.distill, tuple) else recipe.distill
    return {"lr": recipe.lr, "distill": distill, "weight_decay": recipe.weight_decay}


def fine_tune_epochs(scheme: str | None, epochs: int | None, default: int) -> int:
    """A LEANet's joint fine-tuning epochs: ``epochs`` if given, else ``default``; for the
    slice scheme 0, since :func:`leanet.train.fine_tune` refuses it (``leanet fit-heads``
    and the demo failed there, after the heads were fitted).

    Raises:
        ValueError: ``epochs`` above 0 for the slice scheme, before anything trains.
    """
    if scheme != "slice":
        return default if epochs is None else epochs
    if epochs:
        raise ValueError(
            f"{epochs} fine-tune epochs with the slice scheme: its channels' batch-norm "
            "statistics depend on the level, so it cannot be fine-tuned; give "
            "--fine-tune-epochs 0 (fine_tune_epochs=0; heads only, the slice default) or "
            "the hybrid scheme"
        )
    return 0
