"""Image data for scoring and training architectures, all offline.

* ``digits``: scikit-learn's handwritten digits (1,797 8x8 grey images, 10 classes, shipped inside the package),
  upsampled to ``image_size`` and repeated to ``channels`` -- small enough to train hundreds of cells on 2 cores.
* ``cifar10``: the CIFAR-10 "python version" already on disk (``data_batch_1..5`` and ``test_batch`` under
  ``root``), the files torchvision's ``CIFAR10(root, download=False)`` reads. Nothing is downloaded.
* ``folder``: an ImageFolder-style tree on disk, ``root/train/<class>/*`` and ``root/test/<class>/*`` (any
  format Pillow reads), resized to ``image_size``.
* ``natural``: random square crops (side 48-160 px) of the photographs that ship inside installed packages
  (scikit-learn's ``china.jpg`` and ``flower.jpg``, matplotlib's ``grace_hopper.jpg``), resized to
  ``image_size``: natural-image statistics for zero-cost proxies with nothing on disk. Labels are drawn
  uniformly from 10 classes (a proxy's loss needs labels; these carry no class information).
* ``gaussian``: N(0, 1) images with uniform labels from 10 classes (NASWOT's robustness check, Mellor et al.
  2021, Fig. 5).

torchvision is not a dependency (its wheels must match the installed torch build exactly, which CPU installs
of torch cannot always get), so the two on-disk formats are read here directly, with Pillow and pickle.
Every source is split three ways: a seeded share of the training images (``validation_fraction``) is held out
as the validation split, which is what searches select on (trained fitness, rejection); the test split is only
for reporting (Liu et al. 2020 and Mellor et al. 2021 select on validation data). Images come back as float32
(N, C, H, W) tensors normalised with the training split's per-channel mean / std.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field


class DataSettings(BaseModel):
    """The ``data:`` section: which images (scikit-learn's digits, CIFAR-10 batches on disk or a folder),
    their size and channels, and the digits' train / test split.
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["digits", "cifar10", "folder", "natural", "gaussian"] = "digits"
    root: Path | None = Field(None, description="cifar10 / folder: the directory on disk")
    image_size: int = Field(16, ge=4, description="images are resized to image_size x image_size")
    channels: int = Field(3, ge=1, description="digits: grey repeated to this many channels")
    test_fraction: float = Field(0.3, gt=0, lt=1, description="digits / natural / gaussian: share held out for "
                                                               "testing")
    validation_fraction: float = Field(0.25, gt=0, lt=1, description="share of the training images held out for "
                                                                     "validation (what searches select on)")
    split_seed: int = Field(0, ge=0, description="the permutations that make the splits")
    max_train: int | None = Field(None, ge=1, description="use at most this many training images")
    synthetic_images: int = Field(1024, ge=2, description="natural / gaussian: images made (train + test)")


@dataclass
class ImageData:
    """Train / validation / test images and labels: fit on train, select on validation, report test."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of ``validation`` or ``test``."""
        if name == "validation":
            return self.val_x, self.val_y
        if name == "test":
            return self.test_x, self.test_y
        raise ValueError(f"unknown split {name!r}: validation or test")

    def to(self, device: torch.device | str) -> "ImageData":
        """The same data with every tensor on ``device`` (an evaluator's, :mod:`evoforge.devices`)."""
        moved = {name: getattr(self, name).to(device) for name in
                 ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return ImageData(self.name, num_classes=self.num_classes, **moved)

    def describe(self) -> str:
        """The split sizes, e.g. "943 train / 315 validation / 539 test"."""
        return f"{len(self.train_y)} train / {len(self.val_y)} validation / {len(self.test_y)} test"


def load_data(settings: DataSettings) -> ImageData:
    """The images ``settings`` names, from disk (nothing is downloaded), resized and standardised per channel with the
    training set's mean and std.
    """
    if settings.source == "digits":
        train_x, train_y, test_x, test_y = _digits(settings)
    elif settings.source == "cifar10":
        train_x, train_y, test_x, test_y = _cifar10(_root(settings))
    elif settings.source == "folder":
        train_x, train_y, test_x, test_y = _folder(_root(settings), settings.image_size)
    else:
        train_x, train_y, test_x, test_y = _synthetic(settings)
    if settings.source in ("cifar10", "folder") and train_x.shape[-1] != settings.image_size:
        train_x, test_x = _resize(train_x, settings.image_size), _resize(test_x, settings.image_size)
    order = torch.as_tensor(np.random.default_rng([settings.split_seed, 1]).permutation(len(train_y)))
    held = max(1, int(round(settings.validation_fraction * len(train_y))))
    if held >= len(train_y):
        raise ValueError(f"data.validation_fraction {settings.validation_fraction} leaves no training image")
    val_x, val_y = train_x[order[:held]], train_y[order[:held]]
    train_x, train_y = train_x[order[held:]], train_y[order[held:]]
    if settings.max_train is not None:
        train_x, train_y = train_x[: settings.max_train], train_y[: settings.max_train]
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    num_classes = int(max(train_y.max(), val_y.max(), test_y.max())) + 1
    return ImageData(settings.source, (train_x - mean) / std, train_y, (val_x - mean) / std, val_y,
                     (test_x - mean) / std, test_y, num_classes)


def _root(settings: DataSettings) -> Path:
    if settings.root is None:
        raise ValueError(f"data.root is required for data.source {settings.source}")
    root = Path(settings.root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.root {root} is not a directory (nothing is downloaded)")
    return root


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def _digits(settings: DataSettings) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = _resize(images, settings.image_size).repeat(1, settings.channels, 1, 1)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = torch.as_tensor(np.random.default_rng(settings.split_seed).permutation(len(labels)))
    test = int(round(settings.test_fraction * len(labels)))
    train_index, test_index = order[test:], order[:test]
    return images[train_index], labels[train_index], images[test_index], labels[test_index]


NATURAL_IMAGES = (("sklearn.datasets", "images/china.jpg"), ("sklearn.datasets", "images/flower.jpg"),
                  ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))
NATURAL_CLASSES = 10


def natural_photographs() -> list[np.ndarray]:
    """The photographs that installed packages ship, as (H, W, 3) uint8 arrays (those that are present)."""
    from importlib import resources

    from PIL import Image

    found = []
    for package, name in NATURAL_IMAGES:
        try:
            path = resources.files(package).joinpath(name)
            with path.open("rb") as handle:
                found.append(np.asarray(Image.open(handle).convert("RGB")))
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            continue
    if not found:
        raise FileNotFoundError("no photograph found in the installed packages for data.source natural")
    return found


def _synthetic(settings: DataSettings) -> tuple[torch.Tensor, ...]:
    """``natural`` crops or ``gaussian`` noise, ``synthetic_images`` of them, split by ``test_fraction``."""
    rng = np.random.default_rng(settings.split_seed)
    count, size = settings.synthetic_images, settings.image_size
    if settings.source == "gaussian":
        images = torch.as_tensor(rng.standard_normal((count, 3, size, size)), dtype=torch.float32)
    else:
        photos = natural_photographs()
        crops = []
        for _ in range(count):
            photo = photos[int(rng.integers(len(photos)))]
            side = int(rng.integers(48, min(161, *photo.shape[:2])))
            top, left = int(rng.integers(photo.shape[0] - side + 1)), int(rng.integers(photo.shape[1] - side + 1))
            crop = torch.as_tensor(photo[top:top + side, left:left + side].copy()).permute(2, 0, 1).float() / 255
            crops.append(_resize(crop.unsqueeze(0), size)[0])
        images = torch.stack(crops)
    labels = torch.as_tensor(rng.integers(NATURAL_CLASSES, size=count), dtype=torch.long)
    test = max(1, int(round(settings.test_fraction * count)))
    return images[test:], labels[test:], images[:test], labels[:test]


def _cifar10(root: Path) -> tuple[torch.Tensor, ...]:
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root

    def read(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in names:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"CIFAR-10 file {path} is missing (python version; nothing is downloaded)")
            with open(path, "rb") as handle:
                batch = pickle.load(handle, encoding="latin1")
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch["labels"])
        x = torch.as_tensor(np.concatenate(images), dtype=torch.float32) / 255.0
        return x, torch.as_tensor(labels, dtype=torch.long)

    train_x, train_y = read([f"data_batch_{i}" for i in range(1, 6)])
    test_x, test_y = read(["test_batch"])
    return train_x, train_y, test_x, test_y


def _folder(root: Path, size: int) -> tuple[torch.Tensor, ...]:
    from PIL import Image

    splits = {}
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir()) if (root / "train").is_dir() else []
    if not classes:
        raise FileNotFoundError(f"{root} needs train/<class>/ and test/<class>/ folders of images")
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(classes):
            for path in sorted((root / split / name).glob("*")):
                if path.is_file():
                    with Image.open(path) as image:
                        pixels = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
                    images.append(pixels.transpose(2, 0, 1))
                    labels.append(label)
        if not images:
            raise FileNotFoundError(f"{root / split} holds no images in class folders {classes}")
        splits[split] = (torch.as_tensor(np.stack(images)), torch.as_tensor(labels, dtype=torch.long))
    return (*splits["train"], *splits["test"])
