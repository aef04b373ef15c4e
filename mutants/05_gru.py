"""Plausible wrong answers to exercise 05_gru, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.

A ``gru_bptt`` mistake that changes what is passed to ``gru_step_backward`` (a wrong state,
a wrong upstream gradient) meets the visible test's stub, which refuses a call it does not
expect: such mutants are caught but cannot be named (``named_by=None``).
"""

from course_utils.instructor.catalogue import edit as _edit
from course_utils.instructor.catalogue import mutant as _mutant

# One GRU step backward, written the way a student would; the mutants edit single lines.
_STEP = '''def gru_step_backward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh):
    H = h_prev.shape[1]
    gi = x @ weight_ih.T + bias_ih
    gh = h_prev @ weight_hh.T + bias_hh
    r = 1 / (1 + np.exp(-(gi[:, :H] + gh[:, :H])))
    z = 1 / (1 + np.exp(-(gi[:, H:2 * H] + gh[:, H:2 * H])))
    g_n = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * g_n)
    da_n = dh * (1 - z) * (1 - n ** 2)
    da_z = dh * (h_prev - n) * z * (1 - z)
    da_r = da_n * g_n * r * (1 - r)
    d_gi = np.concatenate([da_r, da_z, da_n], axis=1)
    d_gh = np.concatenate([da_r, da_z, da_n * r], axis=1)
    dh_prev = dh * z + d_gh @ weight_hh
    return {"x": d_gi @ weight_ih, "h_prev": dh_prev, "weight_ih": d_gi.T @ x, "weight_hh": d_gh.T @ h_prev,
            "bias_ih": d_gi.sum(axis=0), "bias_hh": d_gh.sum(axis=0)}
'''

# BPTT with the forward pass written inside; gru_step_backward is the (stubbed) helper.
_BPTT = '''def gru_bptt(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, dH):
    H = h0.shape[1]
    states = [h0]
    for x in X:
        h = states[-1]
        gi = x @ weight_ih.T + bias_ih
        gh = h @ weight_hh.T + bias_hh
        r = 1 / (1 + np.exp(-(gi[:, :H] + gh[:, :H])))
        z = 1 / (1 + np.exp(-(gi[:, H:2 * H] + gh[:, H:2 * H])))
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        states.append((1 - z) * n + z * h)
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    grads = {k: 0.0 for k in names}
    dh = np.zeros_like(h0)
    for t in reversed(range(len(X))):
        g = gru_step_backward(X[t], states[t], weight_ih, weight_hh, bias_ih, bias_hh, dH[t] + dh)
        for k in names:
            grads[k] = grads[k] + g[k]
        dh = g["h_prev"]
    return {**grads, "h0": dh}
'''

# The experiment: the GRU run with the update gate's input bias moved by shift.
_MEASURE = '''def update_gate_measure(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, shift):
    H = h0.shape[1]
    b = bias_ih.copy()
    b[H:2 * H] += shift
    h, zs = h0, []
    for x in X:
        gi = x @ weight_ih.T + b
        gh = h @ weight_hh.T + bias_hh
        r = 1 / (1 + np.exp(-(gi[:, :H] + gh[:, :H])))
        z = 1 / (1 + np.exp(-(gi[:, H:2 * H] + gh[:, H:2 * H])))
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        zs.append(z)
    return float(np.mean(zs)), float(np.sum(h * h0) / np.sum(h0 * h0))
'''

_VERDICT = '''def update_gate_verdict(measurements):
    shift, kept = max(measurements, key=lambda pair: pair[0])
    return "copies" if kept > 0.9 else "overwrites" if kept < 0.1 else "mixed"
'''


_R = "gi[:, :H] + gh[:, :H]"
_Z = "gi[:, H:2 * H] + gh[:, H:2 * H]"

MUTANTS = [
    # ---------------------------------------------------------------- gru_step_backward
    _mutant("gru_step_backward", "b_hn outside the reset product",
            _edit(_STEP, ("g_n = gh[:, 2 * H:]", "g_n = h_prev @ weight_hh[2 * H:].T"),
                  ("n = np.tanh(gi[:, 2 * H:] + r * g_n)", "n = np.tanh(gi[:, 2 * H:] + r * g_n + bias_hh[2 * H:])"),
                  ('"bias_hh": d_gh.sum(axis=0)',
                   '"bias_hh": np.concatenate([da_r, da_z, da_n], axis=1).sum(axis=0)')),
            "The reset gate multiplies h W_hn^T + b_hn, bias included: here b_hn is outside r ⊙ (...)."),
    _mutant("gru_step_backward", "b_hn missing from the reset gate's gradient",
            _edit(_STEP, ("da_r = da_n * g_n * r", "da_r = da_n * (h_prev @ weight_hh[2 * H:].T) * r")),
            "∂L/∂r is ∂L/∂a_n ⊙ (h W_hn^T + b_hn): the gradient of r has lost b_hn."),
    _mutant("gru_step_backward", "gate order z, r, n",
            _edit(_STEP, (f"r = 1 / (1 + np.exp(-({_R})))", f"r = 1 / (1 + np.exp(-({_Z})))"),
                  (f"z = 1 / (1 + np.exp(-({_Z})))", f"z = 1 / (1 + np.exp(-({_R})))"),
                  ("[da_r, da_z, da_n], axis=1)\n    d_gh", "[da_z, da_r, da_n], axis=1)\n    d_gh"),
                  ("[da_r, da_z, da_n * r]", "[da_z, da_r, da_n * r]")),
            "PyTorch stacks the gates in the order r, z, n: rows 0:H are the reset gate, H:2H the update gate."),
    _mutant("gru_step_backward", "z on the other side (textbook convention)",
            _edit(_STEP, ("da_n = dh * (1 - z)", "da_n = dh * z"),
                  ("da_z = dh * (h_prev - n)", "da_z = dh * (n - h_prev)"),
                  ("dh_prev = dh * z +", "dh_prev = dh * (1 - z) +")),
            "In PyTorch h' = (1 - z) ⊙ n + z ⊙ h_prev: z weighs the old state, not the candidate."),
    _mutant("gru_step_backward", "sign of dz",
            _edit(_STEP, ("da_z = dh * (h_prev - n)", "da_z = dh * (n - h_prev)")),
            "∂h'/∂z is h_prev - n (h' = n + z ⊙ (h_prev - n)): the update gate's gradient has the wrong sign."),
    _mutant("gru_step_backward", "direct path z ⊙ dh missing",
            _edit(_STEP, ("dh_prev = dh * z +", "dh_prev =")),
            "h_prev also reaches h' directly through z ⊙ h_prev: dh_prev needs the term z ⊙ dh."),
    _mutant("gru_step_backward", "r missing on the recurrent path of n",
            _edit(_STEP, ("[da_r, da_z, da_n * r]", "[da_r, da_z, da_n]")),
            "The candidate sees h W_hn^T + b_hn through r: its gradient there is ∂L/∂a_n ⊙ r."),
    _mutant("gru_step_backward", "tanh' used for the gates",
            _edit(_STEP, ("z * (1 - z)", "(1 - z ** 2)"), ("r * (1 - r)", "(1 - r ** 2)")),
            "The gates are sigmoids: σ'(a) = σ(a)(1 - σ(a)), not 1 - σ(a)²."),
    _mutant("gru_step_backward", "bias gradients averaged over the batch",
            _edit(_STEP, ('"bias_ih": d_gi.sum(axis=0), "bias_hh": d_gh.sum(axis=0)',
                          '"bias_ih": d_gi.mean(axis=0), "bias_hh": d_gh.mean(axis=0)')),
            "L sums over the batch: the bias gradients are sums over the examples, not means."),
    _mutant("gru_step_backward", "reset gate applied before W_hn (the paper's form)",
            _edit(_STEP, ("n = np.tanh(gi[:, 2 * H:] + r * g_n)",
                          "rh = r * h_prev\n"
                          "    n = np.tanh(gi[:, 2 * H:] + rh @ weight_hh[2 * H:].T + bias_hh[2 * H:])"),
                  ("da_r = da_n * g_n * r", "drh = da_n @ weight_hh[2 * H:]\n    da_r = drh * h_prev * r"),
                  ("d_gh = np.concatenate([da_r, da_z, da_n * r], axis=1)",
                   "d_gh = np.concatenate([da_r, da_z, da_n], axis=1)"),
                  ("dh_prev = dh * z + d_gh @ weight_hh",
                   "dh_prev = dh * z + d_gh[:, :2 * H] @ weight_hh[:2 * H] + drh * r"),
                  ('"weight_hh": d_gh.T @ h_prev,',
                   '"weight_hh": np.concatenate([d_gh[:, :2 * H].T @ h_prev, da_n.T @ rh]),')),
            "This is the paper's GRU (r ⊙ h before W_hn); PyTorch applies r after: r ⊙ (h W_hn^T + b_hn)."),
    _mutant("gru_step_backward", "weight gradients transposed",
            _edit(_STEP, ('"weight_ih": d_gi.T @ x, "weight_hh": d_gh.T @ h_prev',
                          '"weight_ih": x.T @ d_gi, "weight_hh": h_prev.T @ d_gh')),
            "PyTorch stores weight_ih as (3H, D): its gradient is d_gi^T x, of the same shape."),
    # ---------------------------------------------------------------- gru_bptt
    _mutant("gru_bptt", "weight gradients overwritten, not summed",
            _edit(_BPTT, ("grads[k] = grads[k] + g[k]", "grads[k] = g[k]")),
            "The weights are shared by every step: add the gradients of all steps, do not keep only one."),
    _mutant("gru_bptt", "weight gradients averaged over T",
            _edit(_BPTT, ('return {**grads, "h0": dh}',
                          'return {**{k: v / len(X) for k, v in grads.items()}, "h0": dh}')),
            "The loss sums over the steps: the weight gradients are sums, not means over T."),
    _mutant("gru_bptt", "dh0 taken before the first step's backward",
            _edit(_BPTT, ('        dh = g["h_prev"]\n', '        dh = dH[t] + dh if t == 0 else g["h_prev"]\n')),
            "dh0 is the h_prev gradient of the first step, after its backward, not the dh passed into it."),
    _mutant("gru_bptt", "gradient from later steps not carried back",
            _edit(_BPTT, ("dH[t] + dh)", "dH[t])")),
            "dh_t must add the gradient coming back from step t + 1 to dH[t].", named=False),
    _mutant("gru_bptt", "state after the step used as h_prev",
            _edit(_BPTT, ("X[t], states[t],", "X[t], states[t + 1],")),
            "Step t reads h_{t-1}: its h_prev is states[t], the state before the step.", named=False),
    _mutant("gru_bptt", "forward pass started from zeros",
            _edit(_BPTT, ("states = [h0]", "states = [np.zeros_like(h0)]")),
            "The forward pass starts from h0, not from zeros.", named=False),
    _mutant("gru_bptt", "only the last state's upstream gradient",
            _edit(_BPTT, ("dH[t] + dh)", "(dH[t] if t == len(X) - 1 else 0) + dh)")),
            "The loss reaches every state: add dH[t] at every step, not only the last.", named=False),
    # ---------------------------------------------------------------- update_gate_measure
    _mutant("update_gate_measure", "shift on the reset gate's bias",
            _edit(_MEASURE, ("b[H:2 * H] += shift", "b[:H] += shift")),
            "The shift moves b_iz, rows H:2H of bias_ih (gate order r, z, n); rows 0:H are the reset gate."),
    _mutant("update_gate_measure", "shift on every gate's bias",
            _edit(_MEASURE, ("b[H:2 * H] += shift", "b += shift")),
            "Only the update gate's bias b_iz (rows H:2H of bias_ih) is shifted, not r and n as well."),
    _mutant("update_gate_measure", "shift subtracted",
            _edit(_MEASURE, ("b[H:2 * H] += shift", "b[H:2 * H] -= shift")),
            "The shift is added to b_iz: a positive shift opens the update gate (z towards 1)."),
    _mutant("update_gate_measure", "mean z of the last step only",
            _edit(_MEASURE, ("float(np.mean(zs))", "float(np.mean(z))")),
            "mean z averages the update gate over every step and unit, not over the last step only."),
    _mutant("update_gate_measure", "kept as a cosine",
            _edit(_MEASURE, ("np.sum(h * h0) / np.sum(h0 * h0)",
                             "np.sum(h * h0) / np.sqrt(np.sum(h * h) * np.sum(h0 * h0))")),
            "kept is h_T·h0 / h0·h0 (the share of h0 left in h_T), not the cosine of h_T and h0."),
    _mutant("update_gate_measure", "state update in the textbook convention",
            _edit(_MEASURE, ("h = (1 - z) * n + z * h", "h = z * n + (1 - z) * h")),
            "In PyTorch h' = (1 - z) ⊙ n + z ⊙ h: a z near 1 keeps the old state."),
    # ---------------------------------------------------------------- update_gate_verdict
    _mutant("update_gate_verdict", "last pair, not the largest shift",
            _edit(_VERDICT, ("max(measurements, key=lambda pair: pair[0])", "measurements[-1]")),
            "Read the pair with the largest shift: the measurements may come in any order."),
    _mutant("update_gate_verdict", "mean of the kept fractions",
            _edit(_VERDICT, ("shift, kept = max(measurements, key=lambda pair: pair[0])",
                             "kept = sum(k for _, k in measurements) / len(measurements)")),
            "The verdict reads kept at the largest shift, not the mean over all shifts."),
    _mutant("update_gate_verdict", "largest kept, not the largest shift",
            _edit(_VERDICT, ("key=lambda pair: pair[0]", "key=lambda pair: pair[1]")),
            "Pick the pair whose shift is largest, then read its kept fraction."),
    _mutant("update_gate_verdict", "at least instead of above",
            _edit(_VERDICT, ("kept > 0.9", "kept >= 0.9"), ("kept < 0.1", "kept <= 0.1")),
            "Kept fractions of exactly 0.9 or 0.1 are 'mixed': the thresholds are strict.", named=False),
]
