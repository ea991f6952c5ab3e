"""BatchedGRU: its numpy step is torch.nn.GRUCell followed by a Linear readout, row by row."""

import math

import numpy as np
import pytest
import torch

from evoforge.policies.recurrent import BatchedGRU


def _torch_modules(gru: BatchedGRU, genome: torch.Tensor) -> tuple[torch.nn.GRUCell, torch.nn.Linear]:
    """torch modules holding ``genome``'s weights: the documented order is theirs, parameter by parameter."""
    cell = torch.nn.GRUCell(gru.n_obs, gru.hidden)
    readout = torch.nn.Linear(gru.hidden, gru.n_out)
    params = [*cell.parameters(), *readout.parameters()]
    assert [tuple(p.shape) for p in params] == [shape for _, shape in gru.part_shapes]
    torch.nn.utils.vector_to_parameters(genome.clone(), params)
    return cell, readout


@pytest.mark.parametrize("output_activation", ["linear", "tanh"])
def test_one_step_equals_torch_gru_cell_and_linear(output_activation):
    gru = BatchedGRU(5, 7, 3, output_activation=output_activation)
    genomes = torch.randn(4, gru.num_params, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    h = torch.randn(4, 7, generator=torch.Generator().manual_seed(2))  # h != 0: the recurrent path counts
    h_new, out = gru.step(gru.numpy_params(genomes), h.numpy(), x.numpy())
    assert h_new.shape == (4, 7) and out.shape == (4, 3) and h_new.dtype == out.dtype == np.float32
    for g in range(4):
        cell, readout = _torch_modules(gru, genomes[g])
        with torch.no_grad():
            h_ref = cell(x[g : g + 1], h[g : g + 1])
            out_ref = readout(h_ref)
            out_ref = torch.tanh(out_ref) if output_activation == "tanh" else out_ref
        torch.testing.assert_close(torch.from_numpy(h_new[g : g + 1]), h_ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.from_numpy(out[g : g + 1]), out_ref, rtol=1e-5, atol=1e-6)


def test_a_sequence_equals_torch_and_rows_follow_their_owner():
    gru = BatchedGRU(4, 6, 2)
    genomes = torch.randn(3, gru.num_params, generator=torch.Generator().manual_seed(3))
    owner = [2, 0, 2, 1, 0]  # rows run genomes in any order, several rows per genome
    xs = torch.randn(8, len(owner), 4, generator=torch.Generator().manual_seed(4))
    params = gru.numpy_params(genomes).take(owner)
    h = gru.initial_state(len(owner))
    outs = []
    for x in xs:
        h, out = gru.step(params, h, x.numpy())
        outs.append(out)
    for row, g in enumerate(owner):
        cell, readout = _torch_modules(gru, genomes[g])
        h_ref = torch.zeros(1, 6)
        with torch.no_grad():
            for t, x in enumerate(xs):
                h_ref = cell(x[row : row + 1], h_ref)
                torch.testing.assert_close(torch.from_numpy(outs[t][row : row + 1]), readout(h_ref),
                                           rtol=1e-5, atol=1e-5)


def test_a_rows_step_does_not_depend_on_its_batch():
    gru = BatchedGRU(8, 16, 4, output_activation="tanh")
    genomes = torch.randn(6, gru.num_params, generator=torch.Generator().manual_seed(5))
    x = np.random.default_rng(6).standard_normal((6, 8)).astype(np.float32)
    h = np.random.default_rng(7).standard_normal((6, 16)).astype(np.float32)
    params = gru.numpy_params(genomes)
    together = gru.step(params, h, x)
    for rows in ([1, 3], [5], [0, 2, 4]):
        alone = gru.step(params.take(rows), h[rows], x[rows])
        assert all((a == t[rows]).all() for a, t in zip(alone, together))


def test_the_state_carries_information_across_steps():
    """The same observation twice in a row gives other outputs: the second step sees h != 0."""
    gru = BatchedGRU(4, 16, 2)
    genome = gru.initial_genome(torch.Generator().manual_seed(8)).reshape(1, -1)
    params = gru.numpy_params(genome)
    x = np.array([[0.1, -0.2, 0.05, 0.3]], dtype=np.float32)
    h1, out1 = gru.step(params, gru.initial_state(1), x)
    _, out2 = gru.step(params, h1, x)
    assert np.abs(h1).max() > 0 and not np.allclose(out1, out2)


def test_sizes_init_and_shape_errors():
    gru = BatchedGRU(4, 16, 2)
    n_obs, hidden, n_out = 4, 16, 2
    assert gru.num_params == 3 * hidden * (n_obs + hidden + 2) + n_out * (hidden + 1) == 1090
    assert gru.num_params == sum(math.prod(shape) for _, shape in gru.part_shapes)
    cell, readout = torch.nn.GRUCell(n_obs, hidden), torch.nn.Linear(hidden, n_out)
    assert gru.num_params == sum(p.numel() for p in [*cell.parameters(), *readout.parameters()])
    genome = gru.initial_genome(torch.Generator().manual_seed(0))
    assert genome.shape == (1090,) and genome.abs().max() <= 1 / math.sqrt(hidden)
    assert genome.abs().max() > 0.9 / math.sqrt(hidden)  # uniform over the whole range, as torch's init
    assert torch.equal(genome, gru.initial_genome(torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match=r"expected genomes of shape \(G, 1090\)"):
        gru.numpy_params(torch.zeros(2, 1089))
    with pytest.raises(ValueError, match="sizes >= 1"):
        BatchedGRU(4, 0, 2)
    with pytest.raises(ValueError, match="output_activation"):
        BatchedGRU(4, 3, 2, output_activation="relu")  # type: ignore[arg-type]
