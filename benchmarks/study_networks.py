"""The study's networks: base networks and LEANets trained once and cached, shared by the
study scripts (``leanet_study``, ``leanet_seeds``, ``threshold_search``,
``threshold_choice``, ``search_on_test``), with how a run records its command and commit.

A network's cache file names everything that makes it (architecture, data set, width,
epochs, seed, fine-tuning recipe), so a changed recipe trains a new file instead of loading
a stale one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import torch

from leanet import baselines
from leanet.checkpoints import load_checkpoint, load_leanet, save_checkpoint, save_leanet
from leanet.costs import measure_costs
from leanet.data import load_dataset
from leanet.evaluator import ThresholdEvaluator
from leanet.levels import DEFAULT_FRACTIONS
from leanet.model import build
from leanet.recipes import FINE_TUNE, TRAIN, Recipe  # noqa: F401  (the study's names for them)
from leanet.reference_front import reference_front
from leanet.train import evaluate, fine_tune, fit_heads, recalibrate_batch_norm, train_base
from leanet.zoo import build_base
from mobo.metrics import hypervolume

# Kinds of levels the study builds: width schemes by name, and depth exits.
WIDTH_LEVELS = {"width": "triangular", "hybrid": "hybrid"}

# Hypervolume of the study's fronts (LEANet vs static vs slimmable) is taken from this box:
# accuracy within 5 points of the full network, energy up to 1.25x the full network's.
FRONT_HV_LOSS, FRONT_HV_ENERGY = 0.05, 1.25


class StudyNet(NamedTuple):
    """A base network of the study and how it is trained from scratch (the slimmable
    baseline gets the same recipe): width multiplier, epochs, AdamW learning rate and
    weight decay (:func:`leanet.train.train_base`'s defaults unless stated)."""

    width: float
    epochs: int
    lr: float = 2e-3
    weight_decay: float = 5e-4


# Sizes that train in minutes on 2 CPU cores. MobileNet overfits the 3333 training images
# at the default weight decay (train accuracy 1.0, test 0.926 on mnist5k at seed 0, while a
# depth exit after 3 blocks scores 0.97); AdamW's usual 0.05 fixes it: test 0.971 on
# mnist5k (20 epochs), 0.990 on digits8x8 (0.946 before).
NETS = {
    "convnet": StudyNet(0.5, *TRAIN["convnet"]),
    "vgg16": StudyNet(0.25, *TRAIN["vgg16"]),
    "mobilenet": StudyNet(0.5, *TRAIN["mobilenet"]),
}


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name the study's networks and where they are cached, shared by the
    scripts that measure them over seeds."""
    parser.add_argument("--archs", nargs="+", default=list(NETS))
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "digits8x8"])
    parser.add_argument("--levels", nargs="+", default=[*WIDTH_LEVELS, "depth"])
    parser.add_argument("--seeds", type=int, default=3, help="network seeds 0 .. seeds-1")
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=None,
        help="width fractions of the width and hybrid levels and of the slimmable baseline "
        "(default: the paper's, leanet.DEFAULT_FRACTIONS)",
    )
    parser.add_argument("--reference-samples", type=int, default=50_000)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))


def log(message: str) -> None:
    print(f"[leanet study] {message}", flush=True)


def _training_suffix(net: StudyNet) -> str:
    """'' for train_base's default optimizer settings, else '-lr<lr>-wd<weight decay>'."""
    defaults = StudyNet._field_defaults
    if (net.lr, net.weight_decay) == (defaults["lr"], defaults["weight_decay"]):
        return ""
    return f"-lr{net.lr:g}-wd{net.weight_decay:g}"


def _training(net: StudyNet, epochs: int, data, seed: int) -> dict:
    """Keyword arguments of train_base and train_slimmable for ``net``'s recipe."""
    return dict(
        val=data.val,
        epochs=epochs,
        lr=net.lr,
        weight_decay=net.weight_decay,
        seed=seed,
        progress=False,
    )


def base_path(arch: str, dataset: str, args) -> Path:
    """Cache file of the base network (``args``: ``cache``, ``epochs``, ``seed``)."""
    net = NETS[arch]
    epochs = args.epochs if args.epochs is not None else net.epochs
    suffix = _training_suffix(net)
    return args.cache / f"{arch}-{dataset}-x{net.width}-e{epochs}{suffix}-s{args.seed}.pt"


def fine_tune_recipe(name: str, args) -> Recipe:
    """The fine-tune recipe of network ``name``: FINE_TUNE's, with ``args.distill`` (the
    distillation weight, when given) in place of the recipe's."""
    recipe = FINE_TUNE[name.split("-")[0]]
    distill = getattr(args, "distill", None)
    return recipe if distill is None else recipe._replace(distill=distill)


def fine_tune_epochs(name: str, levels: str, args) -> int:
    """Joint fine-tuning epochs (at most) of a LEANet: the recipe's, or
    ``args.fine_tune_epochs``; 0 for depth exits (heads on frozen features)."""
    if levels not in WIDTH_LEVELS:
        return 0
    recipe_epochs = FINE_TUNE[name.split("-")[0]].epochs
    return recipe_epochs if args.fine_tune_epochs is None else args.fine_tune_epochs


def width_fractions(args) -> tuple[float, ...]:
    """The width fractions of the study's width levels: ``args.fractions`` when given, else
    the paper's (:data:`leanet.levels.DEFAULT_FRACTIONS`)."""
    fractions = getattr(args, "fractions", None)
    return DEFAULT_FRACTIONS if fractions is None else tuple(float(f) for f in fractions)


def fractions_tag(args, levels: str = "width") -> str:
    """'' for the paper's fractions (and for depth levels, which have none), else
    '-F<f_1>_..._<f_L>': another design is another file and another row."""
    fractions = width_fractions(args)
    if levels not in WIDTH_LEVELS or fractions == DEFAULT_FRACTIONS:
        return ""
    return "-F" + "_".join(f"{f:g}" for f in fractions)


def network_name(arch: str, dataset: str, levels: str, args) -> str:
    """A study network's name, ``<arch>-<dataset>-<levels>``, tagged with its fractions
    when they are not the paper's (:func:`fractions_tag`): the name its level records are
    cached under and its results rows carry."""
    return f"{arch}-{dataset}-{levels}{fractions_tag(args, levels)}"


def leanet_path(name: str, levels: str, args) -> Path:
    """Cache file of a LEANet: its name, seed, head epochs, fine-tuning epochs and recipe
    (``args``: ``cache``, ``seed``, ``head_epochs``, ``fine_tune_epochs``, optionally
    ``distill``)."""
    r = fine_tune_recipe(name, args)
    ft = fine_tune_epochs(name, levels, args)
    recipe = "" if (r.lr, r.distill) == (5e-4, 0.0) or not ft else f"-lr{r.lr:g}-d{_tag(r.distill)}"
    if ft and r.weight_decay != Recipe._field_defaults["weight_decay"]:
        recipe += f"-wd{r.weight_decay:g}"
    if ft:  # early-stopped files before "-fixed" existed carry neither tag
        recipe += "-fixed" if r.patience is None else f"-p{r.patience}"
    base = _training_suffix(NETS[name.split("-")[0]])
    if base:  # a LEANet of a differently trained base is another file
        recipe += f"-base{base}"
    recipe += fractions_tag(args, levels)
    return args.cache / f"{name}-s{args.seed}-h{args.head_epochs}-ft{ft}{recipe}-bn.pt"


def _tag(distill: float | tuple[float, ...]) -> str:
    """A distillation weight's file tag; several weights chosen among on validation:
    '<w_1>_<w_2>val'."""
    if isinstance(distill, tuple):
        return "_".join(f"{w:g}" for w in distill) + "val"
    return f"{distill:g}"


def train_study_base(arch: str, data, train, seed: int, epochs: int):
    """``arch``'s base at the study's width and recipe, trained now on ``train`` (a split of
    ``data``, whose validation split stops early): the network and train_base's result."""
    net = NETS[arch]
    base = build_base(
        arch,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_size=data.input_size,
        width_multiplier=net.width,
        seed=seed,  # the initial weights depend on the seed alone
    )
    return base, train_base(base, train, **_training(net, epochs, data, seed))


def trained_base(arch: str, dataset: str, data, args):
    """The base network trained on ``dataset``, from the cache or trained now."""
    net = NETS[arch]
    width, epochs = net.width, args.epochs if args.epochs is not None else net.epochs
    path = base_path(arch, dataset, args)
    if path.exists():
        base, _ = load_checkpoint(path, arch=arch)
        return base, {"epochs": epochs, "width_multiplier": width, "train_seconds": None}
    base, result = train_study_base(arch, data, data.train, args.seed, epochs)
    save_checkpoint(
        path, base, dataset=dataset, classes=data.classes, accuracy=evaluate(base, data.test)
    )
    log(f"trained {arch} on {dataset} in {result.seconds:.0f} s")
    return base, {"epochs": epochs, "width_multiplier": width, "train_seconds": result.seconds}


def trained_leanet(base, name: str, levels: str, data, args):
    """A 5-level LEANet of ``base``. ``levels``: ``"width"`` (triangular), ``"hybrid"``
    (triangular levels under the pretrained network), each with batch norm recalibrated,
    heads fitted, then fine-tuned jointly (recipe per architecture in FINE_TUNE: early
    stopping on validation, or all epochs); or
    ``"depth"`` (exits with heads on frozen features). Linear heads: an MLP head's
    DRAM-priced weights cost more than a level (see leanet.demo)."""
    width = levels in WIDTH_LEVELS
    recipe = fine_tune_recipe(name, args)
    ft = fine_tune_epochs(name, levels, args)
    path = leanet_path(name, levels, args)
    if path.exists():
        return load_leanet(path)[0]
    if _has_choice(name, levels, args):
        return chosen_on_validation(base, name, levels, data, args)
    kind = (
        dict(levels="width", scheme=WIDTH_LEVELS[levels], fractions=width_fractions(args))
        if width
        else dict(levels="depth")
    )
    net = build(base, head_hidden=0, seed=args.seed, num_levels=5, **kind)
    if width:
        recalibrate_batch_norm(net, data.train)
    fit_heads(net, data.train, epochs=args.head_epochs, seed=args.seed, progress=False)
    if ft:
        teacher = base.eval() if recipe.distill else None  # build copied it: still pretrained
        result = fine_tune(
            net,
            data.train,
            val=data.val if recipe.patience is not None else None,
            epochs=ft,
            patience=recipe.patience,
            lr=recipe.lr,
            weight_decay=recipe.weight_decay,
            distill=recipe.distill,
            teacher=teacher,
            seed=args.seed,
            progress=False,
        )
        kept = f", kept {result.best_epoch}" if result.best_epoch is not None else ""
        log(f"{name}: fine-tuned {len(result.history)} epochs{kept}")
    save_leanet(path, net, meta={"dataset": name})
    return net


def front_hypervolume(accuracy, energy_ratio, full_accuracy: float) -> float:
    """Hypervolume of (accuracy, energy ratio) points from the study's box: accuracy
    ``FRONT_HV_LOSS`` below the full network's on the same split, energy ratio
    ``FRONT_HV_ENERGY``."""
    Y = torch.stack(
        [torch.as_tensor(accuracy).double(), -torch.as_tensor(energy_ratio).double()], dim=-1
    )
    ref = torch.tensor([full_accuracy - FRONT_HV_LOSS, -FRONT_HV_ENERGY]).double()
    return hypervolume(Y.reshape(-1, 2), ref)


def front_of(metrics) -> dict:
    """The Pareto front of a :class:`leanet.evaluator.ThresholdMetrics`, as the results
    files store a front: ``{"energy_ratio": [...], "accuracy": [...]}``."""
    front = metrics.pareto()
    return {"energy_ratio": front.energy_ratio.tolist(), "accuracy": front.accuracy.tolist()}


def front_hv(front: dict, full_accuracy: float) -> float:
    """:func:`front_hypervolume` of a stored front (:func:`front_of`)."""
    return front_hypervolume(front["accuracy"], front["energy_ratio"], full_accuracy)


def validation_hypervolume(net, full_accuracy: float, data, n_samples: int = 50_000) -> float:
    """Hypervolume of ``net``'s dense validation front (:func:`front_hypervolume`, against
    the full network's validation accuracy ``full_accuracy``): the study's test figure, on
    the split a recipe is chosen on."""
    costs = measure_costs(net, "45nm-fp32", latency=False)
    val = ThresholdEvaluator.from_model(net, data.val, costs)
    front, _ = reference_front(val, n_samples=n_samples)
    return front_hypervolume(front.accuracy, front.energy_ratio, full_accuracy)


def _has_choice(name: str, levels: str, args) -> bool:
    """Whether the LEANet's recipe fine-tunes with several distillation weights and keeps
    one (:func:`chosen_on_validation`)."""
    recipe = fine_tune_recipe(name, args)
    return bool(fine_tune_epochs(name, levels, args)) and isinstance(recipe.distill, tuple)


def chosen_on_validation(base, name: str, levels: str, data, args):
    """The LEANet of a recipe with several distillation weights: each weight's LEANet
    (trained or cached as that weight's own file), the one whose dense validation front has
    the largest hypervolume (ties: the first listed) saved as the recipe's file, with every
    weight's figure in its meta (:func:`recipe_choice`). Choosing on validation, as early
    stopping would, keeps the test split for the bar."""
    weights = fine_tune_recipe(name, args).distill
    full_accuracy = evaluate(base, data.val)
    scores, nets = {}, {}
    for w in weights:
        nets[w] = trained_leanet(
            base, name, levels, data, argparse.Namespace(**{**vars(args), "distill": w})
        )
        scores[w] = validation_hypervolume(nets[w], full_accuracy, data)
    best = max(scores, key=scores.get)
    log(f"{name}: distillation {best:g} chosen on validation ({scores})")
    choice = {"chosen": best, "validation_hypervolume": {f"{w:g}": hv for w, hv in scores.items()}}
    save_leanet(
        leanet_path(name, levels, args),
        nets[best],
        meta={"dataset": name, "distill_choice": choice},
    )
    return nets[best]


def recipe_choice(name: str, levels: str, args) -> dict | None:
    """What :func:`chosen_on_validation` chose for a cached LEANet (None for a recipe
    without a choice, whose file is not read): the weight kept and every weight's
    validation hypervolume."""
    path = leanet_path(name, levels, args)
    if not _has_choice(name, levels, args) or not path.exists():
        return None
    return load_leanet(path)[1].get("distill_choice")


def trained_slimmable(base, name: str, data, epochs: int, args):
    """A slimmable network (switchable batch norm) at the LEANet's widths, trained here
    with the base network's recipe (``name``: ``<arch>-<dataset>``)."""
    recipe = NETS[name.split("-")[0]]
    suffix = _training_suffix(recipe)
    tag = fractions_tag(args)
    path = args.cache / f"{name}-slimmable-e{epochs}{suffix}{tag}-s{args.seed}.pt"
    net = baselines.SlimmableNet(base, fractions=width_fractions(args))
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net, None
    result = baselines.train_slimmable(
        net, data.train, **_training(recipe, epochs, data, args.seed)
    )
    torch.save(net.state_dict(), path)
    return net, result.seconds


def cached_network(arch: str, dataset: str, levels: str, seed: int, data, args):
    """The study's base network and LEANet at ``seed``, from the cache only (``args``:
    ``cache``, and ``fine_tune_epochs`` if set); FileNotFoundError, before any training,
    if either is missing."""
    study_args = argparse.Namespace(
        cache=args.cache,
        seed=seed,
        epochs=None,
        head_epochs=20,
        fine_tune_epochs=getattr(args, "fine_tune_epochs", None),
    )
    name = f"{arch}-{dataset}-{levels}"
    for path in (base_path(arch, dataset, study_args), leanet_path(name, levels, study_args)):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} missing: run benchmarks/leanet_seeds.py or leanet_study.py first"
            )
    base, _ = trained_base(arch, dataset, data, study_args)
    return base, trained_leanet(base, name, levels, data, study_args)


def cached_evaluators(arch: str, dataset: str, levels: str, seed: int, args):
    """For a study network already trained at ``seed`` (cache only, as
    :func:`cached_network`): the data split at that seed, the base network, and the
    LEANet's validation and test evaluators (:func:`level_evaluators`)."""
    data = load_dataset(dataset, seed=seed)
    base, net = cached_network(arch, dataset, levels, seed, data, args)
    _, val, test = level_evaluators(net, f"{arch}-{dataset}-{levels}", seed, data, args.cache)
    return data, base, val, test


def level_evaluators(net, name: str, seed: int, data, cache: Path):
    """The LEANet's costs (45nm model) and its validation and test evaluators, the level
    records cached as the study caches them (``<cache>/<name>-s<seed>-val.pt``, ``-test.pt``)."""
    costs = measure_costs(net, "45nm-fp32")
    records = cache / f"{name}-s{seed}"
    val = ThresholdEvaluator.from_model(net, data.val, costs, cache=f"{records}-val.pt")
    test = ThresholdEvaluator.from_model(net, data.test, costs, cache=f"{records}-test.pt")
    return costs, val, test
