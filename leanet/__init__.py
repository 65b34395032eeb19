"""LEANet: energy-accuracy tradeoff networks built from pretrained classifiers.

A LEANet turns one pretrained network into L levels of increasing cost, each with its own
head; an input stops at the first level confident enough [Jayakodi2020]. Front door::

    import leanet
    data = leanet.load_dataset("mnist5k")                  # offline MNIST digits
    base = leanet.build_base("convnet", input_size=28, seed=0)
    leanet.train_base(base, data.train, val=data.val)
    net = leanet.build(base, fractions=[0.5, 0.625, 0.75, 0.875, 1.0])
    leanet.recalibrate_batch_norm(net, data.train)         # narrower channels, new statistics
    leanet.fit_heads(net, data.train)
    x = data.test.tensors()[0][:8]                         # standardized images
    prediction, exit_level = net(x, thresholds=[0.9, 0.9, 0.9, 0.9])

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. Design and optimization of
energy-accuracy tradeoff networks for mobile platforms via pretrained deep models.
ACM TECS 19(1), 2020.
"""

from __future__ import annotations

from leanet.checkpoints import (
    CheckpointError,
    load_checkpoint,
    load_leanet,
    save_checkpoint,
    save_leanet,
)
from leanet.confidence import CONFIDENCES, confidence
from leanet.data import DataSplits, ImageTensorDataset, load_dataset
from leanet.levels import DEFAULT_FRACTIONS, DepthLevels, Levels, WidthLevels
from leanet.model import Decision, Head, LEANet, LevelOutputs, PretrainedHead, build, count_macs
from leanet.runtime import Runtime, compile_runtime, load_runtime
from leanet.train import (
    evaluate,
    evaluate_levels,
    fine_tune,
    fit_heads,
    recalibrate_batch_norm,
    train_base,
)
from leanet.zoo import ARCHITECTURES, BaseNet, build_base, from_torchvision

__all__ = [
    "ARCHITECTURES",
    "CONFIDENCES",
    "DEFAULT_FRACTIONS",
    "BaseNet",
    "CheckpointError",
    "DataSplits",
    "Decision",
    "DepthLevels",
    "Head",
    "PretrainedHead",
    "Runtime",
    "ImageTensorDataset",
    "LEANet",
    "LevelOutputs",
    "Levels",
    "WidthLevels",
    "build",
    "build_base",
    "compile_runtime",
    "confidence",
    "count_macs",
    "evaluate",
    "evaluate_levels",
    "fine_tune",
    "fit_heads",
    "recalibrate_batch_norm",
    "from_torchvision",
    "load_checkpoint",
    "load_dataset",
    "load_leanet",
    "load_runtime",
    "save_checkpoint",
    "save_leanet",
    "train_base",
]
