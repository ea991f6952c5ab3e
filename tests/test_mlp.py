import pytest
import torch

from evoforge.policies.mlp import BatchedMLP


def test_batched_forward_equals_torch_linear_layers_per_genome():
    mlp = BatchedMLP((5, 7, 3), activation="tanh", output_activation="tanh")
    genomes = torch.randn(4, mlp.num_params, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(1))
    out = mlp.forward(mlp.unflatten(genomes), x)
    for g in range(4):
        w1 = genomes[g, :35].reshape(5, 7)
        b1 = genomes[g, 35:42]
        w2 = genomes[g, 42:63].reshape(7, 3)
        b2 = genomes[g, 63:66]
        reference = torch.tanh(torch.tanh(x[g] @ w1 + b1) @ w2 + b2)
        torch.testing.assert_close(out[g], reference)
    assert mlp.num_params == 5 * 7 + 7 + 7 * 3 + 3


def test_a_genomes_output_does_not_depend_on_its_batch():
    mlp = BatchedMLP((24, 40, 40, 4), output_activation="tanh")
    genomes = torch.randn(16, mlp.num_params, generator=torch.Generator().manual_seed(0))
    x = torch.randn(16, 2, 24, generator=torch.Generator().manual_seed(1))
    together = mlp.forward(mlp.unflatten(genomes), x)
    alone = torch.cat([mlp.forward(mlp.unflatten(genomes[i : i + 1]), x[i : i + 1]) for i in range(16)])
    assert torch.equal(together, alone)


def test_shape_errors_are_clear():
    mlp = BatchedMLP((3, 2), bias=False)
    assert mlp.num_params == 6
    with pytest.raises(ValueError, match=r"expected genomes of shape \(G, 6\)"):
        mlp.unflatten(torch.zeros(2, 7))
    with pytest.raises(ValueError):
        BatchedMLP((3,))
