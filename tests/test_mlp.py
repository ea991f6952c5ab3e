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


def test_numpy_forward_matches_torch_forward():
    mlp = BatchedMLP((6, 9, 3), activation="relu", output_activation="tanh")
    genomes = torch.randn(5, mlp.num_params, generator=torch.Generator().manual_seed(2))
    x = torch.randn(5, 4, 6, generator=torch.Generator().manual_seed(3))
    expected = mlp.forward(mlp.unflatten(genomes), x).numpy()
    got = mlp.forward_numpy(mlp.numpy_layers(genomes), x.numpy())
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected), rtol=1e-5, atol=1e-6)
    # Row subsets (what a rollout does as episodes end) give the same rows, bit for bit.
    layers = mlp.numpy_layers(genomes)
    subset = [(w[[1, 3]], b[[1, 3]]) for w, b in layers]
    assert (mlp.forward_numpy(subset, x.numpy()[[1, 3]]) == got[[1, 3]]).all()
