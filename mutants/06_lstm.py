"""Plausible wrong answers to exercise 06_lstm, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.

A projection put in the wrong place usually fails with a shape error when ``P < H``; the
visible cases with ``P = H`` (a square ``weight_hr``) make it compute wrong numbers instead,
which is what lets the visible test tell these mistakes apart and name them.
"""

from course_utils.instructor.catalogue import edit as _edit
from course_utils.instructor.catalogue import mutant as _mutant

# A projected LSTM over a batch of sequences, written the way a student would.
_PROJ = '''def lstm_proj_forward(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    H = c0.shape[1]
    h, c, outputs = h0, c0, []
    for t in range(X.shape[1]):
        a = X[:, t] @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
        i = 1 / (1 + np.exp(-a[:, :H]))
        f = 1 / (1 + np.exp(-a[:, H:2 * H]))
        g = np.tanh(a[:, 2 * H:3 * H])
        o = 1 / (1 + np.exp(-a[:, 3 * H:]))
        c = f * c + i * g
        h = (o * np.tanh(c)) @ weight_hr.T
        outputs.append(h)
    return np.stack(outputs, axis=1), (h, c)
'''

# One step of the coupled-gate LSTM (blocks i, g, o).
_COUPLED = '''def coupled_lstm_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h_prev.shape[1]
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = 1 / (1 + np.exp(-a[:, :H]))
    g = np.tanh(a[:, H:2 * H])
    o = 1 / (1 + np.exp(-a[:, 2 * H:]))
    c = (1 - i) * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''

# One LSTM step backward.
_STEP = '''def lstm_step_backward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc):
    H = h_prev.shape[1]
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = 1 / (1 + np.exp(-a[:, :H]))
    f = 1 / (1 + np.exp(-a[:, H:2 * H]))
    g = np.tanh(a[:, 2 * H:3 * H])
    o = 1 / (1 + np.exp(-a[:, 3 * H:]))
    c = f * c_prev + i * g
    tc = np.tanh(c)
    dc_total = dc + dh * o * (1 - tc ** 2)
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g ** 2)
    da_o = dh * tc * o * (1 - o)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dh_prev = da @ weight_hh
    dc_prev = dc_total * f
    return {"x": da @ weight_ih, "h_prev": dh_prev, "c_prev": dc_prev,
            "weight_ih": da.T @ x, "weight_hh": da.T @ h_prev,
            "bias_ih": da.sum(axis=0), "bias_hh": da.sum(axis=0)}
'''

# The experiment: the LSTM run with the forget gate's input bias moved by shift.
_MEASURE = '''def forget_bias_measure(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, shift):
    H = c0.shape[1]
    b = bias_ih.copy()
    b[H:2 * H] += shift
    h, c, fs = h0, c0, []
    for t in range(X.shape[1]):
        a = X[:, t] @ weight_ih.T + b + h @ weight_hh.T + bias_hh
        i = 1 / (1 + np.exp(-a[:, :H]))
        f = 1 / (1 + np.exp(-a[:, H:2 * H]))
        g = np.tanh(a[:, 2 * H:3 * H])
        o = 1 / (1 + np.exp(-a[:, 3 * H:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        fs.append(f)
    return float(np.mean(np.prod(fs, axis=0)))
'''

_VERDICT = '''def forget_bias_verdict(measurements):
    shift, fraction = max(measurements, key=lambda pair: pair[0])
    return "remembers" if fraction > 0.5 else "forgets" if fraction < 0.05 else "fades"
'''


_G = "g = np.tanh(a[:, 2 * H:3 * H])"
_O = "o = 1 / (1 + np.exp(-a[:, 3 * H:]))"

MUTANTS = [
    # ---------------------------------------------------------------- lstm_proj_forward
    _mutant("lstm_proj_forward", "projection forgotten",
            _edit(_PROJ, ("h = (o * np.tanh(c)) @ weight_hr.T", "h = o * np.tanh(c)")),
            "h_t = (o ⊙ tanh(c_t)) W_hr^T: the output must be projected to P values by weight_hr."),
    _mutant("lstm_proj_forward", "cell state projected inside the tanh",
            _edit(_PROJ, ("h = (o * np.tanh(c)) @ weight_hr.T", "h = o * np.tanh(c @ weight_hr.T)")),
            "The projection acts on h = o ⊙ tanh(c), after the output gate; the cell c is never projected."),
    _mutant("lstm_proj_forward", "c_T returned projected",
            _edit(_PROJ, ("return np.stack(outputs, axis=1), (h, c)",
                          "return np.stack(outputs, axis=1), (h, c @ weight_hr.T)")),
            "c_T is never projected: it keeps H values, as c_n of nn.LSTM. Only h is projected."),
    _mutant("lstm_proj_forward", "projection only on the outputs, not fed back",
            _edit(_PROJ, ("h = (o * np.tanh(c)) @ weight_hr.T\n        outputs.append(h)",
                          "h = o * np.tanh(c)\n        outputs.append(h @ weight_hr.T)"),
                  ("(h, c)", "(h @ weight_hr.T, c)")),
            "The next step reads the projected h (weight_hh is (4H, P)): feed back h W_hr^T, not o ⊙ tanh(c)."),
    _mutant("lstm_proj_forward", "weight_hr not transposed",
            _edit(_PROJ, ("@ weight_hr.T", "@ weight_hr")),
            "weight_hr is stored (P, H), as in PyTorch: the projection is h W_hr^T."),
    _mutant("lstm_proj_forward", "tanh after the projection",
            _edit(_PROJ, ("h = (o * np.tanh(c)) @ weight_hr.T", "h = np.tanh((o * np.tanh(c)) @ weight_hr.T)")),
            "The projection is linear: h_t = (o ⊙ tanh(c_t)) W_hr^T, with no tanh after it."),
    _mutant("lstm_proj_forward", "gate order i, f, o, g in the forward pass",
            _edit(_PROJ, (_G, _G.replace("2 * H:3 * H", "3 * H:")),
                  (_O, _O.replace("3 * H:", "2 * H:3 * H"))),
            "PyTorch stacks the blocks in the order i, f, g, o: rows 2H:3H are the candidate g."),
    _mutant("lstm_proj_forward", "outputs stacked time first",
            _edit(_PROJ, ("np.stack(outputs, axis=1)", "np.stack(outputs)")),
            "The layout is batch first, as in the chapter: outputs are (B, T, P)."),
    _mutant("lstm_proj_forward", "bias_hh left out",
            _edit(_PROJ, (" + h @ weight_hh.T + bias_hh", " + h @ weight_hh.T")),
            "Each gate adds both biases, b_ih and b_hh: bias_hh is missing."),
    # ---------------------------------------------------------------- coupled_lstm_cell
    _mutant("coupled_lstm_cell", "forget gate equal to the input gate",
            _edit(_COUPLED, ("c = (1 - i) * c_prev", "c = i * c_prev")),
            "The coupled forget gate is f = 1 - i: what is written in is forgotten, not f = i."),
    _mutant("coupled_lstm_cell", "coupling the wrong way round",
            _edit(_COUPLED, ("c = (1 - i) * c_prev + i * g", "c = i * c_prev + (1 - i) * g")),
            "c = (1 - i) ⊙ c_prev + i ⊙ g: the input gate i scales the new content g."),
    _mutant("coupled_lstm_cell", "no forgetting (f = 1)",
            _edit(_COUPLED, ("c = (1 - i) * c_prev", "c = c_prev")),
            "The old cell is scaled by f = 1 - i before i ⊙ g is added: here it is kept whole."),
    _mutant("coupled_lstm_cell", "blocks read as i, o, g",
            _edit(_COUPLED, ("g = np.tanh(a[:, H:2 * H])", "g = np.tanh(a[:, 2 * H:])"),
                  ("o = 1 / (1 + np.exp(-a[:, 2 * H:]))", "o = 1 / (1 + np.exp(-a[:, H:2 * H]))")),
            "The three blocks are i, g, o: rows H:2H are the candidate g, rows 2H:3H the output gate."),
    _mutant("coupled_lstm_cell", "no tanh on the output",
            _edit(_COUPLED, ("h = o * np.tanh(c)", "h = o * c")),
            "The output is h = o ⊙ tanh(c): the cell goes through tanh before the output gate."),
    _mutant("coupled_lstm_cell", "cell state squashed",
            _edit(_COUPLED, ("c = (1 - i) * c_prev + i * g", "c = np.tanh((1 - i) * c_prev + i * g)")),
            "The cell state is not squashed: c = (1 - i) ⊙ c_prev + i ⊙ g, with no tanh."),
    _mutant("coupled_lstm_cell", "returns (c, h)",
            _edit(_COUPLED, ("return h, c", "return c, h")),
            "Return the pair (h, c), in that order, as nn.LSTMCell does."),
    # ---------------------------------------------------------------- lstm_step_backward
    _mutant("lstm_step_backward", "cell gradient through h forgotten",
            _edit(_STEP, ("dc_total = dc + dh * o * (1 - tc ** 2)", "dc_total = dc")),
            "c' also reaches L through h' = o ⊙ tanh(c'): add dh ⊙ o ⊙ (1 - tanh²(c')) to dc."),
    _mutant("lstm_step_backward", "upstream dc ignored",
            _edit(_STEP, ("dc_total = dc + dh", "dc_total = dh")),
            "The upstream gradient dc on c' counts too: ∂L/∂c' = dc + dh ⊙ o ⊙ (1 - tanh²(c'))."),
    _mutant("lstm_step_backward", "dc_prev without the forget gate",
            _edit(_STEP, ("dc_prev = dc_total * f", "dc_prev = dc_total")),
            "c' = f ⊙ c_prev + i ⊙ g: the gradient reaching c_prev is ∂L/∂c' ⊙ f."),
    _mutant("lstm_step_backward", "tanh' of c, not of tanh(c)",
            _edit(_STEP, ("dh * o * (1 - tc ** 2)", "dh * o * (1 - c ** 2)")),
            "tanh'(c) = 1 - tanh²(c): square tanh(c), not c."),
    _mutant("lstm_step_backward", "candidate differentiated as a sigmoid",
            _edit(_STEP, ("da_g = dc_total * i * (1 - g ** 2)", "da_g = dc_total * i * g * (1 - g)")),
            "g = tanh(a_g): its derivative is 1 - g², not g(1 - g)."),
    _mutant("lstm_step_backward", "h_prev given dh directly (a GRU habit)",
            _edit(_STEP, ("dh_prev = da @ weight_hh", "dh_prev = da @ weight_hh + dh")),
            "h_prev reaches h' only through the gates: dh_prev is ∂L/∂a W_hh, with no direct dh term."),
    _mutant("lstm_step_backward", "output gate sees tanh(c_prev)",
            _edit(_STEP, ("da_o = dh * tc * o", "da_o = dh * np.tanh(c_prev) * o")),
            "h' = o ⊙ tanh(c'): the output gate's gradient is dh ⊙ tanh(c') with the new cell."),
    _mutant("lstm_step_backward", "gate order i, f, o, g in the step backward",
            _edit(_STEP, (_G, _G.replace("2 * H:3 * H", "3 * H:")), (_O, _O.replace("3 * H:", "2 * H:3 * H")),
                  ("[da_i, da_f, da_g, da_o]", "[da_i, da_f, da_o, da_g]")),
            "PyTorch stacks the blocks in the order i, f, g, o: rows 2H:3H are the candidate g."),
    _mutant("lstm_step_backward", "bias gradients averaged over the batch",
            _edit(_STEP, ('"bias_ih": da.sum(axis=0), "bias_hh": da.sum(axis=0)',
                          '"bias_ih": da.mean(axis=0), "bias_hh": da.mean(axis=0)')),
            "L sums over the batch: the bias gradients are sums over the examples, not means."),
    _mutant("lstm_step_backward", "weight gradients transposed",
            _edit(_STEP, ('"weight_ih": da.T @ x, "weight_hh": da.T @ h_prev',
                          '"weight_ih": x.T @ da, "weight_hh": h_prev.T @ da')),
            "PyTorch stores weight_ih as (4H, D): its gradient is (∂L/∂a)^T x, of the same shape."),
    # ---------------------------------------------------------------- forget_bias_measure
    _mutant("forget_bias_measure", "shift on the input gate's bias",
            _edit(_MEASURE, ("b[H:2 * H] += shift", "b[:H] += shift")),
            "The shift moves b_if, rows H:2H of bias_ih (order i, f, g, o); rows 0:H are the input gate."),
    _mutant("forget_bias_measure", "shift added to both biases",
            _edit(_MEASURE, ("for t in range", "bias_hh = bias_hh.copy()\n    bias_hh[H:2 * H] += shift\n"
                             "    for t in range")),
            "Add the shift once, to bias_ih: b_ih and b_hh are summed, so shifting both doubles it."),
    _mutant("forget_bias_measure", "shift subtracted",
            _edit(_MEASURE, ("b[H:2 * H] += shift", "b[H:2 * H] -= shift")),
            "The shift is added to b_if: a positive shift opens the forget gate (f towards 1)."),
    _mutant("forget_bias_measure", "mean forget gate, not the product",
            _edit(_MEASURE, ("np.mean(np.prod(fs, axis=0))", "np.mean(fs)")),
            "c0 is scaled by f at every step: the share left is the product of the f_t, not their mean."),
    _mutant("forget_bias_measure", "product of the unit means",
            _edit(_MEASURE, ("np.mean(np.prod(fs, axis=0))", "np.prod([np.mean(f) for f in fs])")),
            "Multiply each unit's forget gates along time first, then average the products over units."),
    _mutant("forget_bias_measure", "ratio c_T / c0",
            _edit(_MEASURE, ("np.mean(np.prod(fs, axis=0))", "np.mean(c / c0)")),
            "c_T / c0 mixes in what the input gate wrote: measure the product of the forget gates."),
    _mutant("forget_bias_measure", "state never advances",
            _edit(_MEASURE, ("        h = o * np.tanh(c)\n", "")),
            "Each step's gates read the previous output h_{t-1} = o ⊙ tanh(c_{t-1}): update h too."),
    # ---------------------------------------------------------------- forget_bias_verdict
    _mutant("forget_bias_verdict", "last pair, not the largest shift",
            _edit(_VERDICT, ("max(measurements, key=lambda pair: pair[0])", "measurements[-1]")),
            "Read the pair with the largest shift: the measurements may come in any order."),
    _mutant("forget_bias_verdict", "mean of the fractions",
            _edit(_VERDICT, ("shift, fraction = max(measurements, key=lambda pair: pair[0])",
                             "fraction = sum(f for _, f in measurements) / len(measurements)")),
            "The verdict reads the fraction at the largest shift, not the mean over all shifts."),
    _mutant("forget_bias_verdict", "largest fraction, not the largest shift",
            _edit(_VERDICT, ("key=lambda pair: pair[0]", "key=lambda pair: pair[1]")),
            "Pick the pair whose shift is largest, then read its fraction."),
    _mutant("forget_bias_verdict", "smallest shift",
            _edit(_VERDICT, ("max(measurements", "min(measurements")),
            "The verdict is about the largest shift tried, not the smallest."),
    _mutant("forget_bias_verdict", "at least instead of above",
            _edit(_VERDICT, ("fraction > 0.5", "fraction >= 0.5"), ("fraction < 0.05", "fraction <= 0.05")),
            "Fractions of exactly 0.5 or 0.05 are 'fades': the thresholds are strict.", named=False),
]
