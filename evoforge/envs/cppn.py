"""Enhanced POET's terrain generator: a compositional pattern-producing network (CPPN; Stanley 2007) that maps
a position x to a ground height, evolved with NEAT-style mutation (Wang et al. 2020, "Enhanced POET", arXiv
2003.08536, section 3.2; uber-research/poet ``niches/box2d/cppn.py`` and ``config-cppn``).

A :class:`CPPN` is a feed-forward graph from one input (x, node -1) to one output (node 0, identity activation
whose input sum is scaled by ``response``) through hidden nodes with an activation (identity, sin, sigmoid,
square, tanh) and a bias; every connection has a weight. :meth:`CPPN.mutate` is one NEAT mutation with the reference config's
rates -- add a node by splitting a connection (0.1), delete a hidden node (0.075), perturb each weight and bias
with probability 0.75 by N(0, 0.1^2) -- plus adding a connection (``add_connection``, 0 in the reference config;
evoforge's default 0.1, so that graphs can also grow sideways). :func:`mutate_cppn` repeats it until the child
is valid as the reference requires: a path from input to output, a child different from its parent, and a
curve that is not flat; the curve, sampled at 200 x in [-1, 1) and shifted to start at 0, is rescaled through
the output's response to a height range in [0.25, 0.5] if it stays below 0.25 and to [12, 16] above 16.

Unlike the reference (neat-python with Python's unseeded ``random`` and timestamp keys) all randomness comes
from the caller's numpy generator, so a run's terrains are reproducible, and a CPPN is a plain dict in
``environments.json`` (:meth:`CPPN.to_dict`), so every admitted terrain can be re-rendered after the run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATIONS = ("identity", "sin", "sigmoid", "square", "tanh")  # the reference config's options
INPUT, OUTPUT = -1, 0
NODE_ADD, NODE_DELETE = 0.1, 0.075
PERTURB_RATE, PERTURB_POWER = 0.75, 0.1
WEIGHT_INIT_STD, BIAS_INIT_STD = 0.25, 0.1
CURVE_X = (np.arange(200) - 100) / 100.0  # the reference's validity samples: 200 x in [-1, 1)


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "identity":
        return z
    # neat-python's activations (the reference's library): sin and sigmoid of 5 z, tanh of 2.5 z, clipped to +-60
    if name == "sin":
        return np.sin(np.clip(5.0 * z, -60.0, 60.0))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(5.0 * z, -60.0, 60.0)))
    if name == "square":
        return z * z
    if name == "tanh":
        return np.tanh(np.clip(2.5 * z, -60.0, 60.0))
    raise ValueError(f"unknown CPPN activation {name!r}: one of {ACTIVATIONS}")


@dataclass(frozen=True)
class CPPN:
    """Hidden and output nodes as (key, activation, bias), connections as (source, target, weight); node -1 is
    the input x, node 0 the output (identity). A node computes activation(bias + r * sum of weight * source),
    as neat-python, with r = ``response`` for the output and 1 elsewhere. ``next_key`` numbers new nodes."""

    nodes: tuple[tuple[int, str, float], ...]
    connections: tuple[tuple[int, int, float], ...]
    response: float = 1.0
    next_key: int = 1

    def __post_init__(self) -> None:
        keys = [key for key, _, _ in self.nodes]
        if OUTPUT not in keys or len(set(keys)) != len(keys):
            raise ValueError("a CPPN needs exactly one output node (key 0) and distinct node keys")
        for _, activation, _ in self.nodes:
            if activation not in ACTIVATIONS:
                raise ValueError(f"unknown CPPN activation {activation!r}: one of {ACTIVATIONS}")
        known = set(keys) | {INPUT}
        for source, target, _ in self.connections:
            if source not in known or target not in known or target == INPUT or source == OUTPUT:
                raise ValueError(f"connection {source} -> {target} does not join an input or hidden node to a "
                                 "hidden or output node")
        self.order()  # raises on a cycle

    # -- evaluation --------------------------------------------------------------------------------------------
    def order(self) -> list[int]:
        """Node keys in an order where every connection points forward (raises ValueError on a cycle)."""
        incoming = {key: {s for s, t, _ in self.connections if t == key} - {INPUT} for key, _, _ in self.nodes}
        order, done = [], set()
        while len(order) < len(incoming):
            ready = sorted(k for k, sources in incoming.items() if k not in done and sources <= done)
            if not ready:
                raise ValueError("the CPPN's connections form a cycle")
            order += ready
            done.update(ready)
        return order

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The output at every x (see the class docstring); a node no connection reaches outputs
        activation(bias)."""
        x = np.asarray(x, dtype=np.float64)
        values = {INPUT: x}
        spec = {key: (activation, bias) for key, activation, bias in self.nodes}
        for key in self.order():
            activation, bias = spec[key]
            total = np.zeros_like(x)
            for source, target, weight in self.connections:
                if target == key:
                    total = total + weight * values[source]
            values[key] = _activate(activation, bias + (self.response if key == OUTPUT else 1.0) * total)
        return values[OUTPUT]

    def reaches_output(self) -> bool:
        """Whether a path of connections leads from the input to the output (the reference's validity test)."""
        frontier, seen = [INPUT], {INPUT}
        while frontier:
            node = frontier.pop()
            if node == OUTPUT:
                return True
            for source, target, _ in self.connections:
                if source == node and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        return False

    # -- storage -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-friendly); :meth:`from_dict` reverses it exactly."""
        return {"nodes": [list(node) for node in self.nodes], "connections": [list(c) for c in self.connections],
                "response": self.response, "next_key": self.next_key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CPPN":
        """The CPPN of a :meth:`to_dict` dict."""
        return cls(tuple((int(k), str(a), float(b)) for k, a, b in data["nodes"]),
                   tuple((int(s), int(t), float(w)) for s, t, w in data["connections"]),
                   float(data.get("response", 1.0)), int(data.get("next_key", 1)))

    def digest(self) -> str:
        """A short stable name for the genome (a hash of its JSON), e.g. for environment names."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    # -- search operators --------------------------------------------------------------------------------------
    @classmethod
    def root(cls, rng: np.random.Generator) -> "CPPN":
        """The reference's first genome: the input wired straight to the identity output with a random weight
        and bias -- a random linear slope, not perfectly flat."""
        return cls(((OUTPUT, "identity", float(rng.normal(0.0, BIAS_INIT_STD))),),
                   ((INPUT, OUTPUT, float(rng.normal(0.0, WEIGHT_INIT_STD))),))

    def mutate(self, rng: np.random.Generator, add_connection: float = 0.1) -> "CPPN":
        """One NEAT-style mutation (module docstring); the child may still be invalid (:func:`mutate_cppn`)."""
        nodes, connections, next_key = list(self.nodes), list(self.connections), self.next_key
        if connections and rng.random() < NODE_ADD:  # split a connection: source -> new (1.0) -> target (w)
            source, target, weight = connections.pop(int(rng.integers(len(connections))))
            activation = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
            nodes.append((next_key, activation, 0.0))
            connections += [(source, next_key, 1.0), (next_key, target, weight)]
            next_key += 1
        hidden = [key for key, _, _ in nodes if key != OUTPUT]
        if hidden and rng.random() < NODE_DELETE:
            gone = hidden[int(rng.integers(len(hidden)))]
            nodes = [node for node in nodes if node[0] != gone]
            connections = [c for c in connections if gone not in (c[0], c[1])]
        if rng.random() < add_connection:
            connections = _add_connection(nodes, connections, rng)
        connections = [(s, t, w + float(rng.normal(0.0, PERTURB_POWER)) if rng.random() < PERTURB_RATE else w)
                       for s, t, w in connections]
        nodes = [(k, a, b + float(rng.normal(0.0, PERTURB_POWER)) if rng.random() < PERTURB_RATE else b)
                 for k, a, b in nodes]
        return CPPN(tuple(nodes), tuple(connections), self.response, next_key)


def _add_connection(nodes: list[tuple[int, str, float]], connections: list[tuple[int, int, float]],
                    rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """A new connection between two unconnected nodes that keeps the graph acyclic (unchanged if none fits)."""
    keys = [key for key, _, _ in nodes]
    existing = {(s, t) for s, t, _ in connections}
    options = [(s, t) for s in [INPUT, *keys] for t in keys if s != OUTPUT and s != t and (s, t) not in existing]
    for index in rng.permutation(len(options)):
        source, target = options[int(index)]
        candidate = [*connections, (source, target, float(rng.normal(0.0, WEIGHT_INIT_STD)))]
        try:
            CPPN(tuple(nodes), tuple(candidate))
        except ValueError:  # a cycle
            continue
        return candidate
    return connections


def mutate_cppn(parent: CPPN, rng: np.random.Generator, add_connection: float = 0.1,
                max_tries: int = 1000) -> CPPN:
    """A valid child of ``parent`` (the reference's ``get_mutated_params``): mutate until the input reaches the
    output, the child differs from the parent and its curve over :data:`CURVE_X`, shifted to start at 0, is not
    flat; a height range below 0.25 is rescaled to U[0.25, 0.5], above 16 to U[12, 16] (the output's
    response)."""
    for _ in range(max_tries):
        child = CPPN(parent.nodes, parent.connections, 1.0, parent.next_key).mutate(rng, add_connection)
        if not child.reaches_output() or child == CPPN(parent.nodes, parent.connections, 1.0, parent.next_key):
            continue
        curve = child(CURVE_X)
        curve = curve - curve[0]
        top = float(np.abs(np.max(curve)))  # the reference measures |max|, not max |y|
        if not np.isfinite(top) or top <= 0:
            continue
        response = 1.0
        if top < 0.25:
            response = (rng.random() / 2 + 0.25) / top
        elif top > 16:
            response = (rng.random() * 4 + 12) / top
        return CPPN(child.nodes, child.connections, response, child.next_key)
    raise RuntimeError(f"no valid CPPN child in {max_tries} mutations")
