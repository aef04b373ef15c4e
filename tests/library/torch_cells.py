"""Shared by the tests that check a recurrent cell against torch.nn."""

import torch

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def scaled_cell(cell_class, D: int, H: int, dtype: torch.dtype, seed: int, bias: bool = True) -> torch.nn.Module:
    """A seeded ``cell_class(D, H)`` (e.g. ``nn.GRUCell``) with its weights tripled, so that
    the gates leave their linear range and a wrong formula cannot hide there."""
    torch.manual_seed(seed)
    cell = cell_class(D, H, bias=bias).to(dtype)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3)
    return cell
