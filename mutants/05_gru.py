"""Plausible wrong answers to exercise 05_gru, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/05_gru/`` is released to students.
"""


def _cell(r: str = "gi[:, :H] + gh[:, :H]", z: str = "gi[:, H:2 * H] + gh[:, H:2 * H]",
          n: str = "gi[:, 2 * H:] + r * gh[:, 2 * H:]", h: str = "(1 - z) * n + z * h_prev") -> str:
    return f'''
def gru_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h_prev.shape[-1]
    gi = x @ weight_ih.T + bias_ih
    gh = h_prev @ weight_hh.T + bias_hh
    r = torch.sigmoid({r})
    z = torch.sigmoid({z})
    n = torch.tanh({n})
    return {h}
'''


CELL_TESTS = ["test_gru_cell", "test_gru_gates", "test_gru_forward", "test_gru_forward_torch"]

MUTANTS = [
    {
        "name": "gate order z, r, n instead of r, z, n",
        "code": _cell(r="gi[:, H:2 * H] + gh[:, H:2 * H]", z="gi[:, :H] + gh[:, :H]"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "reset gate applied to h before W_hn (the original paper's form)",
        "code": _cell(n="gi[:, 2 * H:] + (r * h_prev) @ weight_hh[2 * H:].T + bias_hh[2 * H:]"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "z and 1 - z swapped (the other textbook convention)",
        "code": _cell(h="z * n + (1 - z) * h_prev"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "reset gate multiplies W_hn h but not the bias b_hn",
        "code": _cell(n="gi[:, 2 * H:] + r * (h_prev @ weight_hh[2 * H:].T) + bias_hh[2 * H:]"),
        "caught_by": ["test_gru_cell", "test_gru_gates", "test_gru_forward_torch"],
    },
    {
        "name": "recurrent bias bias_hh forgotten",
        "code": _cell().replace("gh = h_prev @ weight_hh.T + bias_hh", "gh = h_prev @ weight_hh.T"),
        "caught_by": ["test_gru_cell", "test_gru_gates", "test_gru_forward_torch"],
    },
    {
        "name": "candidate without its non-linearity (no tanh)",
        "code": _cell().replace("n = torch.tanh(", "n = (", 1),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "the cell calls torch.nn.GRUCell (a forbidden shortcut)",
        "code": '''
def gru_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = torch.nn.GRUCell(x.shape[1], h_prev.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, w in zip(cell.parameters(), (weight_ih, weight_hh, bias_ih, bias_hh)):
            p.copy_(w)
    return cell(x, h_prev)
''',
        "caught_by": ["test_gru_cell", "test_gru_gates"],
    },
    {
        "name": "the cell is the course's reference",
        "code": "from course_utils.models.gru import gru_cell_forward\n",
        "caught_by": ["test_gru_cell", "test_gru_gates"],
    },
    {
        "name": "the loop ignores h0 and starts from zeros",
        "code": '''
def gru_forward(X, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, states = torch.zeros_like(h0), []
    for t in range(X.shape[1]):
        h = gru_cell_forward(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        states.append(h)
    return torch.stack(states, dim=1), h
''',
        "caught_by": ["test_gru_forward", "test_gru_forward_torch"],
    },
    {
        "name": "the states stacked time first, (T, B, H)",
        "code": '''
def gru_forward(X, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, states = h0, []
    for t in range(X.shape[1]):
        h = gru_cell_forward(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        states.append(h)
    return torch.stack(states, dim=0), h
''',
        "caught_by": ["test_gru_forward", "test_gru_forward_torch"],
    },
    {
        "name": "the states shifted by one: h0 kept, the last state dropped",
        "code": '''
def gru_forward(X, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, states = h0, []
    for t in range(X.shape[1]):
        states.append(h)
        h = gru_cell_forward(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
    return torch.stack(states, dim=1), h
''',
        "caught_by": ["test_gru_forward", "test_gru_forward_torch"],
    },
    {
        "name": "the loop detaches the state (no gradient through time)",
        "code": '''
def gru_forward(X, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, states = h0, []
    for t in range(X.shape[1]):
        h = gru_cell_forward(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh).detach()
        states.append(h)
    return torch.stack(states, dim=1), h
''',
        "caught_by": ["test_gru_forward_torch"],
    },
    {
        "name": "the loop calls torch.nn.GRU (a forbidden shortcut)",
        "code": '''
def gru_forward(X, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    module = torch.nn.GRU(X.shape[2], h0.shape[1], batch_first=True).to(X.dtype)
    with torch.no_grad():
        for p, w in zip(module.parameters(), (weight_ih, weight_hh, bias_ih, bias_hh)):
            p.copy_(w)
    out, h = module(X, h0[None])
    return out, h[0]
''',
        "caught_by": ["test_gru_forward", "test_gru_forward_torch"],
    },
]
