"""Data: deterministic splits, bundled data sets, torchvision on-disk formats, errors."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch

from leanet.data import batch_loader, hold_out, load_dataset, split_indices


def test_split_indices_deterministic_partition():
    a = split_indices(600, (4, 1, 1), seed=3)
    b = split_indices(600, (4, 1, 1), seed=3)
    c = split_indices(600, (4, 1, 1), seed=4)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])
    assert [len(p) for p in a] == [400, 100, 100]
    assert torch.equal(torch.cat(a).sort().values, torch.arange(600))
    # sizes round to the nearest image: 10 x 4/6 = 6.67 -> 7, 10 x 1/6 = 1.67 -> 2
    assert [len(p) for p in split_indices(10)] == [7, 2, 1]


def test_split_indices_rejects_bad_ratios():
    with pytest.raises(ValueError, match="ratios"):
        split_indices(10, (1, 1))
    with pytest.raises(ValueError, match="ratios"):
        split_indices(10, (1, -1, 1))
    with pytest.raises(ValueError, match="ratios must be three non-negative numbers"):
        split_indices(10, (float("nan"), 1, 1))
    with pytest.raises(ValueError, match="ratios must be three non-negative numbers"):
        split_indices(10, (0, 0, 0))


@pytest.mark.parametrize("ratios, split", [((0, 1, 1), "training"), ((1, 0, 1), "validation")])
def test_a_data_set_with_an_empty_split_is_refused(ratios, split):
    """An empty training split made every image NaN (its statistics), an empty validation
    split failed later inside torch."""
    with pytest.raises(ValueError, match=f"leave the {split} split of digits8x8"):
        load_dataset("digits8x8", ratios=ratios)


def test_digits8x8_splits_are_deterministic(digits):
    again = load_dataset("digits8x8", seed=0)
    other = load_dataset("digits8x8", seed=1)
    assert torch.equal(digits.test.tensors()[0], again.test.tensors()[0])
    assert not torch.equal(digits.test.labels, other.test.labels)
    sizes = [len(digits.train), len(digits.val), len(digits.test)]
    assert sum(sizes) == 1797 and sizes[0] == pytest.approx(4 * sizes[1], rel=0.02)
    x, y = digits.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0 <= int(y) < 10
    assert (digits.in_channels, digits.input_size, digits.num_classes) == (1, 8, 10)
    # standardized with the training split's statistics
    xs, _ = digits.train.tensors()
    assert abs(float(xs.mean())) < 1e-4 and float(xs.std()) == pytest.approx(1.0, abs=1e-3)
    # each split holds scikit-learn's images as they are (0..16 -> [0, 1]), by the seed's draw
    from sklearn.datasets import load_digits

    bundled = load_digits()
    pixels = torch.from_numpy(bundled.images / 16.0).float().unsqueeze(1)
    splits = (digits.train, digits.val, digits.test)
    for split, rows in zip(splits, split_indices(1797), strict=True):
        assert torch.equal(split.images, pixels[rows])
        assert torch.equal(split.labels, torch.from_numpy(bundled.target)[rows])


def test_mnist5k_bundled():
    d = load_dataset("mnist5k")
    assert [len(d.train), len(d.val), len(d.test)] == [3333, 833, 834]
    x, y = d.test[[0, 1, 2]]
    assert x.shape == (3, 1, 28, 28) and y.shape == (3,)
    assert set(d.train.labels.tolist()) == set(range(10))


def test_moved_to_validation_keeps_the_test_split(digits):
    moved = load_dataset("digits8x8", seed=0, moved_to_validation=100)
    assert torch.equal(moved.test.images, digits.test.images)
    assert (len(moved.train), len(moved.val)) == (len(digits.train) - 100, len(digits.val) + 100)
    # the old validation images stay first; 100 training images join them, leaving training
    n_val = len(digits.val)
    assert torch.equal(moved.val.images[:n_val], digits.val.images)
    rows = lambda images: {tuple(x.flatten().tolist()) for x in images}  # noqa: E731
    joined, before, after = (
        rows(moved.val.images[n_val:]),
        rows(digits.train.images),
        rows(moved.train.images),
    )
    assert joined <= before and not joined & after
    # standardized with the smaller training split's statistics
    assert not torch.equal(moved.train.mean, digits.train.mean)
    again = load_dataset("digits8x8", seed=0, moved_to_validation=100)
    assert torch.equal(again.val.images, moved.val.images)
    for bad in (len(digits.train), -1):
        with pytest.raises(ValueError, match="moved_to_validation"):
            load_dataset("digits8x8", moved_to_validation=bad)
    with pytest.raises(TypeError, match="moved_to_validation"):
        load_dataset("digits8x8", moved_to_validation=1.5)


def test_hold_out_splits_validation_into_two_disjoint_parts(digits):
    search, held = hold_out(digits, 100, seed=3)
    assert (len(search.val), len(held)) == (len(digits.val) - 100, 100)
    assert search.train is digits.train and search.test is digits.test
    # together the two parts are the validation split, each image once, standardized alike
    together = torch.cat([search.val.images, held.images])
    order = lambda images: images.flatten(1).double() @ torch.arange(64.0).double()  # noqa: E731
    assert torch.equal(order(together).sort().values, order(digits.val.images).sort().values)
    assert torch.equal(held.mean, digits.val.mean) and torch.equal(held.std, digits.val.std)
    again, other = hold_out(digits, 100, seed=3)[1], hold_out(digits, 100, seed=4)[1]
    assert torch.equal(again.images, held.images) and not torch.equal(other.images, held.images)
    for bad in (0, len(digits.val), 1.5, True):
        with pytest.raises(ValueError, match="held-out images"):
            hold_out(digits, bad)


def test_standardized_data_do_not_depend_on_the_thread_count():
    # Cache keys digest the standardized images: MNIST's mean, reduced in float32, differed
    # in its last bit between 1 and 2 threads, so every cached design was rebuilt.
    threads = torch.get_num_threads()
    try:
        loaded = []
        for n in (1, 2):
            torch.set_num_threads(n)
            loaded.append(load_dataset("mnist5k"))
    finally:
        torch.set_num_threads(threads)
    one, two = loaded
    assert torch.equal(one.train.mean, two.train.mean)
    assert torch.equal(one.train.std, two.train.std)
    assert torch.equal(one.val.tensors()[0], two.val.tensors()[0])


def test_batch_loader_seeded_shuffle(digits):
    first = [y for _, y in batch_loader(digits.val, 50, shuffle=True, seed=7)]
    second = [y for _, y in batch_loader(digits.val, 50, shuffle=True, seed=7)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert sum(len(y) for y in first) == len(digits.val)
    other = [y for _, y in batch_loader(digits.val, 50, shuffle=True, seed=8)]
    assert not torch.equal(torch.cat(first), torch.cat(other))
    # unshuffled: the data set's order, every image once
    assert torch.equal(torch.cat([y for _, y in batch_loader(digits.val, 50)]), digits.val.labels)


def _write_idx(path, array: np.ndarray) -> None:
    """torchvision's MNIST raw format: big-endian magic (0x08 = uint8, ndim), dims, data."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_raw_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (30, 28, 28))
    train_y = np.arange(30) % 10
    test_x = rng.integers(0, 256, (12, 28, 28))
    test_y = (np.arange(12) * 3) % 10
    _write_idx(raw / "train-images-idx3-ubyte", train_x)
    _write_idx(raw / "train-labels-idx1-ubyte", train_y)
    _write_idx(raw / "t10k-images-idx3-ubyte", test_x)
    _write_idx(raw / "t10k-labels-idx1-ubyte", test_y)

    d = load_dataset("mnist", root=tmp_path, seed=0)
    assert len(d.train) + len(d.val) == 30 and len(d.test) == 12
    assert (d.in_channels, d.input_size, d.num_classes) == (1, 28, 10)
    assert torch.equal(d.test.labels, torch.as_tensor(test_y))
    x, _ = d.test[0]
    expected = (torch.as_tensor(test_x[0], dtype=torch.float32) / 255 - d.test.mean) / d.test.std
    torch.testing.assert_close(x, expected.view(1, 28, 28))


def test_a_constant_training_split_standardizes_to_finite_images(tmp_path):
    # its std is 0: clamped (1e-6), the images stay finite, not inf / NaN or refused as if
    # the statistics were on the 0..255 scale
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for part, n in (("train", 12), ("t10k", 6)):
        _write_idx(raw / f"{part}-images-idx3-ubyte", np.full((n, 28, 28), 7))
        _write_idx(raw / f"{part}-labels-idx1-ubyte", np.arange(n) % 10)
    d = load_dataset("mnist", root=tmp_path)
    assert float(d.train.std) == pytest.approx(1e-6)
    x, _ = d.test.tensors()
    assert torch.equal(x, torch.zeros_like(x))


def test_torchvision_cifar10_from_pickled_batches(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    for i, name in enumerate(names + ["test_batch"]):
        batch = {
            "data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
            "labels": [(i + j) % 10 for j in range(4)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{c}" for c in range(10)]}, f)
    # torchvision checks the real files' md5 sums; tiny stand-ins cannot match them.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)

    d = load_dataset("cifar10", root=tmp_path)
    assert len(d.train) + len(d.val) == 20 and len(d.test) == 4
    assert (d.in_channels, d.input_size) == (3, 32)
    assert d.classes[3] == "class3"
    x, _ = d.test[[0, 1]]
    assert x.shape == (2, 3, 32, 32)
    # CIFAR rows are 3 x 32 x 32 planes (R, G, B): loaded as such, not transposed
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 256, (4, 3072)).astype(np.uint8) for _ in range(6)]
    assert torch.equal(d.test.images, torch.from_numpy(rows[-1]).view(4, 3, 32, 32))
    # standardized per channel, with the training split's own mean of each
    train = torch.from_numpy(np.concatenate(rows[:-1])).view(20, 3, 32, 32).double() / 255
    torch.testing.assert_close(
        d.train.mean.flatten(), d.train.images.double().mean((0, 2, 3)).float() / 255
    )
    assert d.train.mean.shape == (3, 1, 1) and len(set(d.train.mean.flatten().tolist())) == 3
    assert not torch.equal(d.train.mean.flatten(), train.mean((0, 2, 3)).float())  # not all 20


def test_missing_folder_says_where_and_how(tmp_path):
    where = tmp_path / "nothing-here"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", root=where)
    message = str(info.value)
    assert str(where.resolve()) in message and "download=True" in message
    # an existing folder without the files: same kind of error, from torchvision's check
    with pytest.raises(FileNotFoundError, match="MNIST/raw"):
        load_dataset("mnist", root=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")


@pytest.mark.parametrize(
    "name, key",
    [("CIFAR-10", "cifar10"), ("Cifar_100", "cifar100"), ("FashionMNIST", "fashion-mnist")],
)
def test_data_set_names_are_taken_in_any_case_and_spelling(tmp_path, name, key):
    with pytest.raises(FileNotFoundError, match=f"^{key}: data not found"):
        load_dataset(name, root=tmp_path / "absent")


def test_standardize_refuses_float_pixels_outside_0_1_and_takes_numpy():
    """A device's float 0..255 pixels, or images it standardized already, were standardized
    as they came (test accuracy 0.99 -> 0.11 / 0.37, silently); a NumPy batch crashed on
    ``dtype.is_floating_point``."""
    import numpy as np

    from leanet.data import standardize

    mean, std = [0.5], [0.25]
    raw = torch.tensor([[[[0, 64], [128, 255]]]], dtype=torch.uint8)
    expected = (raw.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(standardize(raw.float() / 255, mean, std), expected)
    torch.testing.assert_close(standardize(raw.numpy(), mean, std), expected)
    torch.testing.assert_close(standardize(raw.numpy() / np.float32(255), mean, std), expected)
    for wrong in (raw.float(), expected):
        with pytest.raises(ValueError, match=r"pixels in \[0, 1\].*divide 0..255 pixels by 255"):
            standardize(wrong, mean, std)
    with pytest.raises(TypeError, match="a tensor or an array of pixels, got str"):
        standardize("image.png", mean, std)


def test_integer_images_other_than_uint8_are_refused():
    # int64 pixels 0..255 were read as floats already in [0, 1] and standardized to -2..1018.
    from leanet.data import ImageTensorDataset

    labels = torch.zeros(2, dtype=torch.long)
    stats = dict(mean=torch.tensor([0.5]), std=torch.tensor([0.25]), classes=["a"])
    pixels = torch.full((2, 1, 4, 4), 255)
    with pytest.raises(ValueError, match=r"uint8 \(0..255\) or float.*torch.int64"):
        ImageTensorDataset(pixels, labels, **stats)
    x, _ = ImageTensorDataset(pixels.to(torch.uint8), labels, **stats)[0]
    assert float(x.max()) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("n", "batch_size", "sizes"),
    [
        (10, 3, [3, 3, 4]),
        (9, 3, [3, 3, 3]),
        (8, 3, [3, 3, 2]),
        (20, 1, [1] * 20),
        (1, 4, [1]),
        (5, 4, [5]),
    ],
)
def test_only_a_last_batch_of_one_joins_the_one_before(n, batch_size, sizes):
    """A batch of one breaks batch norm in training; batch_size=1 merged every batch into
    one (2 optimizer steps for 40 over 20 items in 2 epochs) while len() said 20."""
    from leanet.data import batch_loader

    dataset = torch.utils.data.TensorDataset(torch.arange(n).float())
    loader = batch_loader(dataset, batch_size, shuffle=True, min_last=2)
    got = [len(batch[0]) for batch in loader]
    assert got == sizes and len(loader) == len(sizes)


def test_by_default_a_last_batch_of_one_is_its_own_batch():
    # evaluation loaders keep every batch as it comes (only training asks for min_last)
    dataset = torch.utils.data.TensorDataset(torch.arange(7).float())
    loader = batch_loader(dataset, 3)
    assert [len(batch[0]) for batch in loader] == [3, 3, 1] and len(loader) == 3


# -- a user's data set of other dtypes -----------------------------------------------------
class Pairs(torch.utils.data.Dataset):
    """A user's data set of ``(image, label)`` pairs, item by item, as they come."""

    def __init__(self, images, labels) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


@pytest.fixture(scope="module")
def few_digits(digits):
    """64 standardized validation digits (float32) and their labels (long)."""
    x, y = digits.val.tensors()
    return x[:64], y[:64]


def test_float64_images_and_int_or_float_labels_give_the_float32_records(few_digits):
    """float64 images crashed level_records ("expected scalar type Double but found
    Float"), float16 ones too (another message); float labels were cast there only."""
    import leanet
    from leanet.records import level_records
    from tests.leanet.conftest import tiny_base

    x, y = few_digits
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    reference = level_records(net, Pairs(x, y), progress=False)
    for images, labels in [
        (x.double(), y),
        (x.double().numpy(), y.int().numpy()),
        (x, y.int()),
        (x, y.float()),
    ]:
        got = level_records(net, Pairs(images, labels), progress=False)
        assert all(torch.equal(a, b) for a, b in zip(got, reference, strict=True))
    _, correct = level_records(net, Pairs(x.half(), y), progress=False)
    assert correct.shape == reference[1].shape


def test_float64_images_and_int32_labels_train_as_float32_and_long_do(few_digits):
    """float64 images crashed every training loop and int32 or float labels crashed
    cross-entropy ("expected target dtype to be Long or Byte, but got Int")."""
    import copy

    import leanet
    from leanet.train import evaluate, evaluate_levels, fit_heads, train_base
    from tests.leanet.conftest import same_weights, tiny_base

    x, y = few_digits
    base = tiny_base("convnet")
    trained = {}
    for name, data in {
        "reference": Pairs(x, y),
        "float64 images": Pairs(x.double(), y),
        "int32 labels": Pairs(x, y.int()),
        "float labels": Pairs(x.double(), y.float()),
    }.items():
        model = copy.deepcopy(base)
        train_base(model, data, epochs=1, batch_size=32, progress=False, device="cpu")
        net = leanet.build(model, fractions=(0.5, 1.0))
        fit_heads(net, data, epochs=1, batch_size=32, progress=False, device="cpu")
        trained[name] = (net, evaluate(model, data), evaluate_levels(net, data))
    net, accuracy, levels = trained.pop("reference")
    for name, (other, other_accuracy, other_levels) in trained.items():
        assert same_weights(other, net), name
        assert (other_accuracy, other_levels) == (accuracy, levels), name


def test_labels_that_are_not_whole_numbers_are_refused(few_digits):
    """Float labels of 2.999999 were truncated to class 2 without a word (per-level
    accuracy 0.98 -> 0.09); one such label anywhere now stops the loop that meets it."""
    import leanet
    from leanet.records import level_records
    from leanet.train import fit_heads, train_base
    from tests.leanet.conftest import tiny_base

    x, y = few_digits
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    off = Pairs(x, y.double() - 1e-6)
    calls = {
        "level_records": lambda: level_records(net, off, progress=False),
        "fit_heads": lambda: fit_heads(net, off, epochs=1, progress=False),
        "train_base": lambda: train_base(tiny_base("convnet"), off, epochs=1, progress=False),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=f"{name}.*labels must be whole class indices"):
            call()
    late = y.double()
    late[40] = 2.5  # past the first pair, which the checks before a loop read
    with pytest.raises(ValueError, match=r"whole class indices, got \[2.5\]"):
        list(batch_loader(Pairs(x, late), 16))
    nan = y.float()
    nan[0] = float("nan")
    with pytest.raises(ValueError, match="whole class indices"):
        level_records(net, Pairs(x, nan), progress=False)


def test_a_base_and_a_leanet_refuse_the_same_first_pair_in_the_same_words():
    """One rule (leanet.data.check_first_pair) for train_base's and LEANet.check_data's
    check of the first image and label: it was written twice, with two wordings."""
    import leanet
    from leanet.train import fit_heads, train_base
    from tests.leanet.conftest import tiny_base

    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    bad = {
        "images do not fit: the images are (3, 8, 8), the network was built for (1, 8, 8)": Pairs(
            torch.rand(4, 3, 8, 8), torch.arange(4)
        ),
        "images do not fit: they must be standardized floats, got torch.uint8": Pairs(
            torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.arange(4)
        ),
        "labels do not fit: labels must be whole class indices": Pairs(
            torch.rand(4, 1, 8, 8), torch.arange(4) + 0.5
        ),
    }
    for words, data in bad.items():
        for name, call in {
            "train_base train": lambda d=data: train_base(tiny_base("convnet"), d, progress=False),
            "fit_heads": lambda d=data: fit_heads(net, d, epochs=1, progress=False),
        }.items():
            with pytest.raises((TypeError, ValueError)) as raised:
                call()
            assert str(raised.value).startswith(f"{name}: the data set's {words}")


def test_standardize_allows_rounding_past_0_and_1_and_an_empty_batch():
    """PIXEL_SLACK lets a resize's rounding through, no further, at both ends (mutation
    sweep s74: with no slack a device's 1.0001 pixel was refused, with 0.5 a 1.02 or -0.02
    one taken, and no test reached the lower bound), and an empty float batch standardizes
    to an empty one (without the numel() guard its min() raised a bare RuntimeError)."""
    from leanet.data import standardize

    mean, std = [0.5], [0.25]
    rounded = torch.tensor([[[[-1e-4, 1 + 1e-4]]]])
    torch.testing.assert_close(standardize(rounded, mean, std), (rounded - 0.5) / 0.25)
    for beyond in (-0.02, 1.02):  # below 0 and above 1 alike
        with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
            standardize(torch.full((1, 1, 1, 2), beyond), mean, std)
    assert standardize(torch.empty(0, 1, 2, 2), mean, std).shape == (0, 1, 2, 2)


# -- labels and items a user's data set may hold ---------------------------------------------
def test_labels_outside_the_classes_are_refused_by_every_loop(few_digits):
    """1-based labels gave a top-level accuracy of 0.000 in level_records, evaluate_levels
    and evaluate without a word, and labels of 10 or -1 after a valid first one 0.025;
    fit_heads said only torch's "Target 10 is out of bounds" (sweepM F1)."""
    import leanet
    from leanet.records import level_records
    from leanet.train import evaluate, evaluate_levels, fine_tune, fit_heads, train_base
    from tests.leanet.conftest import tiny_base

    x, y = few_digits
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    calls = {
        "level_records": lambda d: level_records(net, d, progress=False),
        "evaluate_levels": lambda d: evaluate_levels(net, d),
        "evaluate": lambda d: evaluate(net.base, d),
        "fit_heads": lambda d: fit_heads(net, d, epochs=1, progress=False),
        "fine_tune": lambda d: fine_tune(net, d, epochs=1, lr=0.0, progress=False),
        "train_base": lambda d: train_base(tiny_base("convnet"), d, epochs=1, progress=False),
    }
    late = y.clone()
    late[40] = -1  # past the first pair, in a later batch of evaluate's
    for labels, bad in ((y % 9 + 1).index_fill(0, torch.tensor([5]), 10), 10), (late, -1):
        for call in calls.values():
            with pytest.raises(ValueError, match=rf"\[0, 10\) .*got {bad}: labels counted from 1"):
                call(Pairs(x, labels))
    assert level_records(net, Pairs(x, y), progress=False)[1].shape == (2, 64)  # in range


def test_labels_not_one_index_per_image_are_refused(few_digits):
    """(N, 1) and one-hot labels passed the first-pair check, then failed in torch's words,
    or, with as many images in a batch as levels, broadcast: [L, B] == [B, 1] scored
    [[1,1,1],[0,0,1],[1,1,1]] for the true [[1,0,0],[0,0,0],[0,0,1]] (sweepM F2)."""
    import leanet
    from leanet.data import batch_loader
    from leanet.records import level_records
    from leanet.train import fit_heads
    from tests.leanet.conftest import tiny_base

    x, y = few_digits
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    calls = {
        "level_records": level_records,
        "fit_heads": lambda n, d: fit_heads(n, d, epochs=1, progress=False),
    }
    for labels, shape in ((y[:, None], r"\(1,\)"), (torch.eye(10)[y], r"\(10,\)")):
        for name, call in calls.items():
            # named by the first pair's check, before the loop starts
            words = f"^{name}: the data set's labels do not fit: labels must be one class index"
            with pytest.raises(ValueError, match=f"{words} per image.*shape {shape}"):
                call(net, Pairs(x[:2], labels[:2]))
    # A batched data set's batches are checked, beyond the first pair (3 images, 3 levels)
    batched = type("Batched", (Pairs,), {"batched": True})(x[:3], y[:3, None])
    with pytest.raises(ValueError, match=r"one class index per image.*\(a batch\)"):
        list(batch_loader(batched, 3, num_classes=10))


@pytest.mark.parametrize(
    "item, words",
    [
        ("pil", r"images do not fit: they must be tensors, got Image; e.g. ImageFolder"),
        ("triple", r"items must be \(image, label\) pairs, got 3 items"),
        ("dict", r"items must be \(image, label\) pairs, got dict"),
    ],
)
def test_items_that_are_not_image_label_pairs_are_refused_in_words(few_digits, item, words):
    """PIL images (an ImageFolder without ToTensor) failed with "Could not infer dtype of
    Image", triples with "too many values to unpack" (the check read item[:2], the loops
    all of it), dicts with "unhashable type: 'slice'" (sweepM F3)."""
    from PIL import Image

    import leanet
    from leanet.records import level_records
    from tests.leanet.conftest import tiny_base

    x, y = few_digits
    make = {
        "pil": lambda i: (Image.new("L", (8, 8)), int(y[i])),
        "triple": lambda i: (x[i], y[i], i),
        "dict": lambda i: {"image": x[i], "label": y[i]},
    }[item]

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return make(i)

    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    with pytest.raises(TypeError, match=f"level_records: the data set's {words}"):
        level_records(net, Items(), progress=False)


def test_image_tensor_dataset_takes_arrays_and_lists_and_refuses_a_0_255_normalization():
    """Lists for mean/std (which standardize takes) and NumPy labels or images failed with
    "'list' object has no attribute 'float'"; a 0..255-scale mean/std (CIFAR's 125.3, 63.0)
    standardized every image to about -1.9 and labels 0..99 were taken for 3 classes
    (sweepM F5)."""
    from leanet.data import ImageTensorDataset

    images = np.random.default_rng(0).integers(0, 256, (6, 3, 2, 2), dtype=np.uint8)
    labels = np.arange(6, dtype=np.int32) % 3
    data = ImageTensorDataset(images, labels, mean=[0.5] * 3, std=[0.25] * 3, classes="abc")
    x, y = data.tensors()
    torch.testing.assert_close(x, (torch.as_tensor(images) / 255.0 - 0.5) / 0.25)
    assert y.tolist() == labels.tolist() and y.dtype == torch.long
    with pytest.raises(ValueError, match=r"mean must lie in \[0, 1\].*got \[125.3, .*divide"):
        ImageTensorDataset(images, labels, mean=[125.3, 123, 114], std=[63, 62, 67], classes="abc")
    with pytest.raises(ValueError, match=r"std in \(0, 1\].*got \[0.5\] and \[63.0\]"):
        ImageTensorDataset(images[:, :1], labels, mean=[0.5], std=[63.0], classes="abc")
    for bad, shown in ((labels + 1, 3), (labels - 1, -1)):
        with pytest.raises(ValueError, match=rf"\[0, 3\) \(len\(classes\)\), got {shown}"):
            ImageTensorDataset(images, bad, mean=[0.5] * 3, std=[0.25] * 3, classes="abc")


def test_an_image_tensor_dataset_names_bad_shapes_and_statistics():
    from leanet.data import ImageTensorDataset

    images, labels = torch.zeros(4, 1, 2, 2), torch.arange(4) % 2
    stats = dict(mean=[0.5], std=[0.25], classes="ab")
    for bad_images, bad_labels in (
        (images, labels[:3]),  # one label short
        (images[:, 0], labels),  # N x H x W: no channel axis
        (images, labels[:, None]),  # N x 1 labels
    ):
        with pytest.raises(ValueError, match="images must be N x C x H x W and labels N"):
            ImageTensorDataset(bad_images, bad_labels, **stats)
    for mean, std in (([1.5], [0.25]), ([0.5], [0.0]), ([-0.1], [0.25])):
        with pytest.raises(ValueError, match=r"mean must lie in \[0, 1\] and std in \(0, 1\]"):
            ImageTensorDataset(images, labels, mean=mean, std=std, classes="ab")


def test_labels_that_are_infinite_are_refused():
    from leanet.data_items import class_indices

    for bad in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(ValueError, match="whole class indices"):
            class_indices(torch.tensor([1.0, bad]))
    assert class_indices(torch.tensor([1.0, 2.0])).tolist() == [1, 2]
