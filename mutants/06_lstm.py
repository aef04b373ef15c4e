"""Plausible wrong answers to exercise 06_lstm, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/06_lstm/`` is released to students.
"""

_CELL = '''
def lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h_prev.shape[-1]
    gates = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = torch.sigmoid(gates[:, :H])
    f = torch.sigmoid(gates[:, H:2 * H])
    g = torch.tanh(gates[:, 2 * H:3 * H])
    o = torch.sigmoid(gates[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * torch.tanh(c)
    return h, c
'''

_PEEPHOLE = '''
def peephole_lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, w_ci, w_cf, w_co):
    H = h_prev.shape[-1]
    gates = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = torch.sigmoid(gates[:, :H] + w_ci * c_prev)
    f = torch.sigmoid(gates[:, H:2 * H] + w_cf * c_prev)
    g = torch.tanh(gates[:, 2 * H:3 * H])
    c = f * c_prev + i * g
    o = torch.sigmoid(gates[:, 3 * H:] + w_co * c)
    return o * torch.tanh(c), c
'''

_COUNT = '''
def lstm_parameter_count(input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=0):
    directions = 2 if bidirectional else 1
    out = proj_size if proj_size > 0 else hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else out * directions
        per_direction = 4 * hidden_size * (layer_input + out) + 2 * 4 * hidden_size
        if proj_size > 0:
            per_direction += proj_size * hidden_size
        total += directions * per_direction
    return total
'''


def _edit(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


CELL_TESTS = ["test_lstm_cell", "test_lstm_limits"]

MUTANTS = [
    {
        "name": "gate order i, f, o, g instead of i, f, g, o",
        "code": _edit(_edit(_CELL, "g = torch.tanh(gates[:, 2 * H:3 * H])", "g = torch.tanh(gates[:, 3 * H:])"),
                      "o = torch.sigmoid(gates[:, 3 * H:])", "o = torch.sigmoid(gates[:, 2 * H:3 * H])"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "gate order f, i, g, o (input and forget gates swapped)",
        "code": _edit(_edit(_CELL, "i = torch.sigmoid(gates[:, :H])", "i = torch.sigmoid(gates[:, H:2 * H])"),
                      "f = torch.sigmoid(gates[:, H:2 * H])", "f = torch.sigmoid(gates[:, :H])"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "the cell state passed through tanh twice",
        "code": _edit(_CELL, "c = f * c_prev + i * g", "c = torch.tanh(f * c_prev + i * g)"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "forget-gate bias missing",
        "code": _edit(_CELL, "f = torch.sigmoid(gates[:, H:2 * H])",
                      "f = torch.sigmoid(gates[:, H:2 * H] - bias_ih[H:2 * H] - bias_hh[H:2 * H])"),
        "caught_by": ["test_lstm_cell"],
    },
    {
        "name": "output without tanh of the cell (h = o * c)",
        "code": _edit(_CELL, "h = o * torch.tanh(c)", "h = o * c"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "the recurrent bias bias_hh forgotten",
        "code": _edit(_CELL, "h_prev @ weight_hh.T + bias_hh", "h_prev @ weight_hh.T"),
        "caught_by": CELL_TESTS,
    },
    {
        "name": "the cell calls torch.nn.LSTMCell (a forbidden shortcut)",
        "code": '''
def lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = torch.nn.LSTMCell(x.shape[1], h_prev.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, w in zip(cell.parameters(), (weight_ih, weight_hh, bias_ih, bias_hh)):
            p.copy_(w)
    return cell(x, (h_prev, c_prev))
''',
        "caught_by": CELL_TESTS,
    },
    {
        "name": "the cell calls torch._VF.lstm_cell (a forbidden shortcut)",
        "code": '''
def lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch._VF.lstm_cell(x, (h_prev, c_prev), weight_ih, weight_hh, bias_ih, bias_hh)
''',
        "caught_by": CELL_TESTS,
    },
    {
        "name": "peephole on the output gate using c_prev instead of the new c",
        "code": _edit(_PEEPHOLE, "w_co * c)", "w_co * c_prev)"),
        "caught_by": ["test_peephole"],
    },
    {
        "name": "peephole weights of the input and forget gates swapped",
        "code": _edit(_edit(_PEEPHOLE, "w_ci * c_prev", "w_cX * c_prev"), "w_cf * c_prev", "w_ci * c_prev")
        .replace("w_cX", "w_cf"),
        "caught_by": ["test_peephole"],
    },
    {
        "name": "peephole that ignores w_cf",
        "code": _edit(_PEEPHOLE, "gates[:, H:2 * H] + w_cf * c_prev", "gates[:, H:2 * H]"),
        "caught_by": ["test_peephole"],
    },
    {
        "name": "parameter count without the second bias",
        "code": _edit(_COUNT, "+ 2 * 4 * hidden_size", "+ 4 * hidden_size"),
        "caught_by": ["test_parameter_count"],
    },
    {
        "name": "parameter count: deeper layers read H, not the outputs of both directions",
        "code": _edit(_COUNT, "out * directions", "out"),
        "caught_by": ["test_parameter_count"],
    },
    {
        "name": "parameter count: weight_hh kept (4H, H) with a projection",
        "code": _edit(_COUNT, "(layer_input + out)", "(layer_input + hidden_size)"),
        "caught_by": ["test_parameter_count"],
    },
    {
        "name": "parameter count: the projection matrix weight_hr forgotten",
        "code": _edit(_COUNT, "per_direction += proj_size * hidden_size", "pass"),
        "caught_by": ["test_parameter_count"],
    },
    {
        "name": "parameter count by building torch.nn.LSTM (a forbidden shortcut)",
        "code": '''
def lstm_parameter_count(input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=0):
    module = torch.nn.LSTM(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                           proj_size=proj_size)
    return sum(p.numel() for p in module.parameters())
''',
        "caught_by": ["test_parameter_count"],
    },
]
