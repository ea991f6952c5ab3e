"""A bias-free MLP whose weights start random every episode and are rewritten by evolved Hebbian rules.

Najarro & Risi 2020 (arXiv 2007.02686): the genome holds the rule coefficients of every synapse (and,
optionally, the initial weights); at each episode start the fully connected weights are drawn afresh; at every
step the network acts, then each layer's weights change by the rule applied to that step's pre- and
post-synaptic activities (hidden activities post-tanh; the output's post-activity is the output layer's
activation, tanh for Bullet envs in the reference).

Pixel observations go through an optional :class:`~evoforge.policies.conv.ConvFeatures` extractor first,
whose weights come from the genome and stay fixed within an episode (the paper's CarRacing agent).

Batched layout: a chunk of G genomes with E episodes each keeps (G, E, n_in, n_out) weights per layer, so a
step is one batched matmul and one in-place Hebbian update per layer for all G x E networks
(:func:`~evoforge.plasticity.rules.apply_hebbian_update`, the allocation-free form of
:func:`~evoforge.plasticity.rules.hebbian_delta`). Initial weights of network (g, e) come from its own episode
seed, so a genome's episode does not depend on the chunk it runs in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from evoforge.plasticity.rules import (
    RULES,
    FoldedRule,
    Normalisation,
    Sharing,
    apply_hebbian_update,
    coefficient_count,
    expand_coefficients,
    expand_global_table,
    fold_rule,
    global_table_size,
    normalise,
)
from evoforge.policies.conv import ConvFeatures

WeightInit = Literal["uniform", "normal", "xavier", "kaiming", "coevolve"]

_ACTIVATIONS = {"tanh": np.tanh, "linear": lambda x: x}


def draw_initial_weights(init: WeightInit, n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """One layer's initial (n_in, n_out) weights, as the reference's ``--init_weights`` options.

    uniform U(-0.1, 0.1) (the reference default ``uni``); normal N(0, 0.024); xavier uniform with gain 0.3
    (``xa_uni``); kaiming uniform with a = 3 (``ka_uni``, torch's formula: bound = gain * sqrt(3 / fan_in),
    gain = sqrt(2 / (1 + a^2))).
    """
    if init == "uniform":
        return rng.uniform(-0.1, 0.1, size=(n_in, n_out))
    if init == "normal":
        return rng.normal(0.0, 0.024, size=(n_in, n_out))
    if init == "xavier":
        bound = 0.3 * math.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-bound, bound, size=(n_in, n_out))
    if init == "kaiming":
        bound = math.sqrt(2.0 / (1 + 3.0**2)) * math.sqrt(3.0 / n_in)
        return rng.uniform(-bound, bound, size=(n_in, n_out))
    raise ValueError(f"weight init {init!r} is not drawn at random")


@dataclass
class HebbianState:
    """Per-episode state of G x E plastic networks."""

    weights: list[np.ndarray]  # per layer (G, E, n_in, n_out)
    rules: list[FoldedRule]  # per layer, arrays (G, n_in, n_out)
    conv_weights: list[torch.Tensor] | None = None  # fixed feature-extractor filters, grouped per genome
    scratch: list[np.ndarray] = field(default_factory=list)  # per layer, the update's work array


@dataclass(frozen=True)
class HebbianMLP:
    """Architecture and plasticity settings; genomes supply the coefficients (and initial weights).

    Genome layout: each layer's coefficients (``coefficient_count`` of them, input-major synapse order), then
    the conv feature extractor's weights if there is one, then, for ``init="coevolve"``, each fully connected
    layer's initial (n_in x n_out) weights. With ``conv``, ``sizes[0]`` is its feature count (648 on 84x84).
    """

    sizes: tuple[int, ...]
    conv: ConvFeatures | None = None
    rule: str = "ABCD_lr"
    sharing: Sharing = "synapse"
    shared_rules: int = 128
    init: WeightInit = "uniform"
    normalisation: Normalisation = "none"
    output_activation: Literal["tanh", "linear"] = "tanh"
    # float32 steps faster than float64 (measured, 28-128-64-8, 8 networks: 72 -> 52 us per
    # network-step); float64 is there for checking kernels against hand-computed values.
    dtype: type = np.float32

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown Hebbian rule {self.rule!r} (known: {', '.join(RULES)})")
        if self.conv is not None and self.sizes[0] != self.conv.num_features:
            raise ValueError(f"the first layer takes the {self.conv.num_features} conv features, not {self.sizes[0]}")

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """(inputs, outputs) of each plastic layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def num_coefficients(self) -> int:
        """Number of rule coefficients over all layers, for the rule and sharing chosen."""
        if self.sharing == "global_modulo":
            return global_table_size(self.rule, self.layer_shapes, self.shared_rules)
        return sum(coefficient_count(self.rule, i, o, self.sharing, self.shared_rules) for i, o in self.layer_shapes)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation: (inputs,) or (channels, side, side) with the CNN."""
        if self.conv is None:
            return (self.sizes[0],)
        return (self.conv.in_channels, self.conv.image_size, self.conv.image_size)

    @property
    def num_conv_params(self) -> int:
        """Number of the CNN's weights in the genome (0 without the CNN)."""
        return 0 if self.conv is None else self.conv.num_params

    @property
    def num_params(self) -> int:
        """Genome length: rule coefficients, CNN weights, and the initial weights when ``init`` is ``coevolve``."""
        weights = sum(i * o for i, o in self.layer_shapes) if self.init == "coevolve" else 0
        return self.num_coefficients + self.num_conv_params + weights

    def start(self, genomes: np.ndarray, episode_seeds: Sequence[Sequence[int]],
              device: str = "cpu") -> HebbianState:
        """Fold each genome's rules and draw fresh weights for its episodes (seeds: G lists of E seeds); the CNN's
        filters go to ``device`` (the plastic layers stay numpy on the CPU)."""
        genomes = np.asarray(genomes, dtype=self.dtype)
        if genomes.ndim != 2 or genomes.shape[1] != self.num_params:
            raise ValueError(f"expected genomes of shape (G, {self.num_params}), got {genomes.shape}")
        count, episodes = genomes.shape[0], len(episode_seeds[0])
        rules, offset = [], 0
        if self.sharing == "global_modulo":
            offset = self.num_coefficients
            table = genomes[:, :offset].reshape(count, -1, RULES[self.rule].columns)
            synapse = 0
            for n_in, n_out in self.layer_shapes:
                rules.append(fold_rule(expand_global_table(table, synapse, n_in, n_out), self.rule))
                synapse += n_in * n_out
        for n_in, n_out in self.layer_shapes if self.sharing != "global_modulo" else ():
            size = coefficient_count(self.rule, n_in, n_out, self.sharing, self.shared_rules)
            flat = genomes[:, offset : offset + size]
            offset += size
            rules.append(fold_rule(expand_coefficients(flat, self.rule, n_in, n_out, self.sharing, self.shared_rules), self.rule))
        conv_weights = None
        if self.conv is not None:
            conv_weights = self.conv.split(genomes[:, offset : offset + self.conv.num_params], device)
            offset += self.conv.num_params
        weights = []
        if self.init == "coevolve":
            for n_in, n_out in self.layer_shapes:
                initial = genomes[:, offset : offset + n_in * n_out].reshape(count, 1, n_in, n_out)
                offset += n_in * n_out
                weights.append(np.repeat(initial, episodes, axis=1).copy())
        else:
            weights = [np.empty((count, episodes, n_in, n_out), self.dtype) for n_in, n_out in self.layer_shapes]
            for g in range(count):
                for e in range(episodes):
                    rng = np.random.default_rng(int(episode_seeds[g][e]))
                    for layer, (n_in, n_out) in enumerate(self.layer_shapes):
                        weights[layer][g, e] = draw_initial_weights(self.init, n_in, n_out, rng)
        return HebbianState(weights=weights, rules=rules, conv_weights=conv_weights,
                            scratch=[np.empty_like(w) for w in weights])

    def step(self, state: HebbianState, observations: np.ndarray) -> np.ndarray:
        """Act on (G, E, *obs_shape) observations, then apply every layer's Hebbian update; returns (G, E, n_act)."""
        activities = self.forward(state, observations)
        self.update(state, activities)
        return activities[-1]

    def forward(self, state: HebbianState, observations: np.ndarray) -> list[np.ndarray]:
        """The activities of every layer for (G, E, *obs_shape) observations, input first, output last; the
        weights are not changed (:meth:`update` does that)."""
        if self.conv is not None:
            observations = self.conv.features(state.conv_weights, observations)
        activity = observations.astype(self.dtype, copy=False)
        activities = [activity]
        last = len(state.weights) - 1
        for layer, weights in enumerate(state.weights):
            pre = np.matmul(activity[:, :, None, :], weights)[:, :, 0, :]
            activity = (_ACTIVATIONS[self.output_activation] if layer == last else np.tanh)(pre)
            activities.append(activity)
        return activities

    def update(self, state: HebbianState, activities: Sequence[np.ndarray]) -> None:
        """Every layer's Hebbian update from the layers' ``activities`` (as :meth:`forward` returns them), then
        the normalisation."""
        for layer, weights in enumerate(state.weights):
            apply_hebbian_update(weights, activities[layer], activities[layer + 1], state.rules[layer], state.scratch[layer])
            normalise(weights, self.normalisation)

    def coefficient_columns(self) -> list[tuple[slice, int]]:
        """Per plastic layer, the genome slice of its coefficients and the rule's column count: the slice
        reshaped to (-1, columns) has one rule per row, column c the rule's term c (RULES[rule]). With
        ``global_modulo`` one slice, the table all layers share."""
        columns, offset, found = RULES[self.rule].columns, 0, []
        if self.sharing == "global_modulo":  # one table for every layer
            return [(slice(0, self.num_coefficients), columns)]
        for n_in, n_out in self.layer_shapes:
            size = coefficient_count(self.rule, n_in, n_out, self.sharing, self.shared_rules)
            found.append((slice(offset, offset + size), columns))
            offset += size
        return found
