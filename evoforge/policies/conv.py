"""The fixed convolutional feature extractor of the Hebbian CarRacing agent (Najarro & Risi 2020, CNN_heb).

Conv 3->6 (3x3, stride 1), tanh, max-pool 2 -> Conv 6->8 (5x5, stride 2), tanh, max-pool 2 -> flatten; no
biases. On 84x84 frames: 84 -> 82 -> 41 -> 19 -> 9, so 8 * 9 * 9 = 648 features and 6*3*3*3 + 8*6*5*5 = 1,362
weights. The weights are evolved with the rules and stay fixed within an episode (they are not plastic).

Batched: the G genomes of a chunk have different filters, so their frames go through one grouped convolution
(groups = G) per layer; the E episodes of a genome are the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ConvFeatures:
    in_channels: int = 3
    image_size: int = 84
    channels: tuple[int, int] = (6, 8)
    kernels: tuple[int, int] = (3, 5)
    strides: tuple[int, int] = (1, 2)

    @property
    def weight_shapes(self) -> list[tuple[int, int, int, int]]:
        """(out, in, k, k) of each convolution."""
        c_in = (self.in_channels, self.channels[0])
        return [(c_out, c, k, k) for c_out, c, k in zip(self.channels, c_in, self.kernels)]

    @property
    def num_params(self) -> int:
        """Number of convolution weights (no biases)."""
        return sum(int(np.prod(shape)) for shape in self.weight_shapes)

    @property
    def output_side(self) -> int:
        """Side of the last feature map: each convolution (no padding) is followed by a 2x2 max-pool."""
        side = self.image_size
        for kernel, stride in zip(self.kernels, self.strides):
            side = ((side - kernel) // stride + 1) // 2  # convolution, then 2x2 max-pool
        return side

    @property
    def num_features(self) -> int:
        """Length of the flattened features fed to the Hebbian layers (648 for the paper's CNN)."""
        return self.channels[-1] * self.output_side**2

    def split(self, genomes: np.ndarray, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """(G, num_params) -> per layer the G genomes' filters stacked for a grouped conv, (G*c_out, c_in, k, k),
        on ``device`` (where :meth:`features` then convolves)."""
        weights, offset = [], 0
        count = genomes.shape[0]
        for shape in self.weight_shapes:
            size = int(np.prod(shape))
            layer = torch.as_tensor(np.ascontiguousarray(genomes[:, offset : offset + size]), dtype=torch.float32,
                                    device=device)
            weights.append(layer.reshape(count * shape[0], *shape[1:]))
            offset += size
        return weights

    def features(self, weights: list[torch.Tensor], images: np.ndarray) -> np.ndarray:
        """(G, E, C, H, W) frames and :meth:`split` weights -> (G, E, num_features) float32 features, computed on
        the weights' device and returned as a numpy array."""
        count, episodes = images.shape[:2]
        x = torch.as_tensor(images, dtype=torch.float32, device=weights[0].device)
        x = x.transpose(0, 1).reshape(episodes, -1, *images.shape[3:])
        with torch.no_grad():
            for layer, stride in zip(weights, self.strides):
                x = F.max_pool2d(torch.tanh(F.conv2d(x, layer, stride=stride, groups=count)), 2)
        # (E, G * c, s, s) -> (G, E, c * s * s): each genome's channels, flattened channel-major like torch.
        return x.reshape(episodes, count, -1).transpose(0, 1).cpu().numpy()
