"""Plausible wrong answers to exercise 04_nvsi, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/04_nvsi/`` is released to students.
"""


def _cell(gate: str, candidate: str, out: str = "gate * candidate") -> str:
    return (
        "def nvsi_cell_forward(x, h_prev, params):\n"
        "    p = params\n"
        f"    gate = {gate}\n"
        f"    candidate = {candidate}\n"
        f"    return {out}\n"
    )


_GATE = 'torch.sigmoid(x @ p["W_xi"] + h_prev @ p["W_hi"] + p["b_i"])'
_CAND = 'torch.tanh(x @ p["W_xh"] + h_prev @ p["W_hh"] + p["b_h"])'


def _norms(body: str) -> str:
    return (
        "def gradient_norms_through_time(step, X, h0):\n"
        "    h = h0.detach().requires_grad_()\n"
        "    states = []\n"
        "    for t in range(X.shape[1]):\n"
        "        h = step(X[:, t], h)\n"
        "        states.append(h)\n"
        + body
    )


MUTANTS = [
    {
        "name": "gate applied inside the tanh",
        "code": _cell(_GATE, 'x @ p["W_xh"] + h_prev @ p["W_hh"] + p["b_h"]', "torch.tanh(gate * candidate)"),
        "caught_by": ["test_nvsi_cell_values", "test_nvsi_cell_gate"],
    },
    {
        "name": "tanh left out of the candidate",
        "code": _cell(_GATE, 'x @ p["W_xh"] + h_prev @ p["W_hh"] + p["b_h"]'),
        "caught_by": ["test_nvsi_cell_values", "test_nvsi_cell_gate"],
    },
    {
        "name": "W_hi transposed",
        "code": _cell(_GATE.replace('p["W_hi"]', 'p["W_hi"].T'), _CAND),
        "caught_by": ["test_nvsi_cell_values"],
    },
    {
        "name": "gate that ignores the previous state",
        "code": _cell('torch.sigmoid(x @ p["W_xi"] + p["b_i"])', _CAND),
        "caught_by": ["test_nvsi_cell_values"],
    },
    {
        "name": "gate and candidate weights swapped",
        "code": _cell(_GATE.replace("W_xi", "W_xh").replace("W_hi", "W_hh").replace("b_i", "b_h"),
                      _CAND.replace("W_xh", "W_xi").replace("W_hh", "W_hi").replace("b_h", "b_i")),
        "caught_by": ["test_nvsi_cell_values", "test_nvsi_cell_gate"],
    },
    {
        "name": "gate with tanh instead of sigmoid",
        "code": _cell(_GATE.replace("torch.sigmoid", "torch.tanh"), _CAND),
        "caught_by": ["test_nvsi_cell_values"],
    },
    {
        "name": "gate added instead of multiplied",
        "code": _cell(_GATE, _CAND, "gate + candidate"),
        "caught_by": ["test_nvsi_cell_values", "test_nvsi_cell_gate"],
    },
    {
        "name": "NVSI through the course's reference",
        "code": "from course_utils.models.nvsi import nvsi_cell_forward\n",
        "caught_by": ["test_nvsi_cell_values", "test_nvsi_cell_gate"],
    },
    {
        "name": "norms in reverse order (entry 0 for the last state)",
        "code": _norms("    grads = torch.autograd.grad(h.sum(), states)\n"
                       "    return torch.stack([g.norm() for g in grads]).flip(0)\n"),
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
    {
        "name": "norms of the states instead of their gradients",
        "code": _norms("    return torch.stack([s.detach().norm() for s in states])\n"),
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
    {
        "name": "h0 counted as a state (T + 1 entries)",
        "code": _norms("    start = h0.detach().requires_grad_()\n"
                       "    h = start\n"
                       "    states = [start]\n"
                       "    for t in range(X.shape[1]):\n"
                       "        h = step(X[:, t], h)\n"
                       "        states.append(h)\n"
                       "    grads = torch.autograd.grad(h.sum(), states)\n"
                       "    return torch.stack([g.norm() for g in grads])\n"),
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
    {
        "name": "gradient of the mean of h_T instead of its sum",
        "code": _norms("    grads = torch.autograd.grad(h.mean(), states)\n"
                       "    return torch.stack([g.norm() for g in grads])\n"),
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
    {
        "name": "mean over the batch of per-example norms",
        "code": _norms("    grads = torch.autograd.grad(h.sum(), states)\n"
                       "    return torch.stack([g.norm(dim=1).mean() for g in grads])\n"),
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
    {
        "name": "gradient norms through the course's reference",
        "code": "from course_utils.models.nvsi import gradient_norms_through_time\n",
        "caught_by": ["test_gradient_norms_values", "test_gradient_norms_properties"],
    },
]
