"""Plausible wrong answers to exercise 04_nvsi, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.

The mutants of ``nvsi_bptt`` that call ``nvsi_step_backward`` with other inputs than a
correct composite (a wrong forward pass, a missing carry) are stopped by the stub at its
first unexpected call; no recorded outcome can name them, so they have ``named_by=None``.
"""

from course_utils.instructor.catalogue import mutant as _mutant

_FORWARD = '''    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    i = sig(x @ params["W_xi"] + h_prev @ params["W_hi"] + params["b_i"])
    g = np.tanh(x @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
'''
_STEP = "def nvsi_step_backward(x, h_prev, params, dh):\n" + _FORWARD
_STEP_OK = '''    da = dh * g * i * (1 - i)
    dc = dh * i * (1 - g**2)
'''


def _step_return(dx="da @ params['W_xi'].T + dc @ params['W_xh'].T",
                 dh_prev="da @ params['W_hi'].T + dc @ params['W_hh'].T",
                 dw_xi="x.T @ da", db_i="da.sum(axis=0)", db_h="dc.sum(axis=0)") -> str:
    return (f"    return {{'W_xi': {dw_xi}, 'W_hi': h_prev.T @ da, 'b_i': {db_i},\n"
            f"            'W_xh': x.T @ dc, 'W_hh': h_prev.T @ dc, 'b_h': {db_h},\n"
            f"            'x': {dx}, 'h_prev': {dh_prev}}}\n")


_NAMES = "('W_xi', 'W_hi', 'b_i', 'W_xh', 'W_hh', 'b_h')"


def _bptt(forward_h="i * g", dh_in="dH[t] + carried", accumulate="grads[n] = grads[n] + step[n]",
          prev_state="states[t]", h0="carried", after="") -> str:
    return f'''def nvsi_bptt(X, h0, params, dH):
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    states = [h0]
    for x in X:
        h_prev = states[-1]
        i = sig(x @ params["W_xi"] + h_prev @ params["W_hi"] + params["b_i"])
        g = np.tanh(x @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
        states.append({forward_h})
    grads = {{n: np.zeros_like(params[n]) for n in {_NAMES}}}
    carried = np.zeros_like(h0)
    for t in reversed(range(len(X))):
        step = nvsi_step_backward(X[t], {prev_state}, params, {dh_in})
        for n in {_NAMES}:
            {accumulate}
        carried = step["h_prev"]
{after}    grads["h0"] = {h0}
    return grads
'''


def _measure(jacobian="(g * i * (1 - i))[0][:, None] * params['W_hi'].T"
                      " + (i * (1 - g**2))[0][:, None] * params['W_hh'].T",
             chain="jacobians[len(jacobians) - k:]", product="J @ P", gate="np.mean(gates)",
             norm="np.linalg.norm(P)") -> str:
    return f'''def gate_gradient_measure(X, h0, params, k):
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    h, gates, hs, jacobians = h0, [], [], []
    for x in X:
        i = sig(x @ params["W_xi"] + h @ params["W_hi"] + params["b_i"])
        g = np.tanh(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
        gates.append(i)
        jacobians.append({jacobian})
        h = i * g
        hs.append(h)
    P = np.eye(h0.shape[1])
    for J in {chain}:
        P = {product}
    return float({gate}), float({norm})
'''


def _verdict(body: str) -> str:
    return "def gate_verdict(norms):\n" + body


MUTANTS = [
    # ------------------------------------------------------------------ nvsi_step_backward
    _mutant("nvsi_step_backward", "sigmoid derivative left out",
            _STEP + "    da = dh * g\n    dc = dh * i * (1 - g**2)\n" + _step_return(),
            "The gate's pre-activation gets dh ⊙ g ⊙ σ'(a), with σ'(a) = i (1 - i): the σ' is missing."),
    _mutant("nvsi_step_backward", "tanh derivative left out",
            _STEP + "    da = dh * g * i * (1 - i)\n    dc = dh * i\n" + _step_return(),
            "The candidate's pre-activation gets dh ⊙ i ⊙ (1 - g²): the tanh' factor is missing."),
    _mutant("nvsi_step_backward", "gate and candidate swapped in the product rule",
            _STEP + "    da = dh * i * i * (1 - i)\n    dc = dh * g * (1 - g**2)\n" + _step_return(),
            "Product rule of h = i ⊙ g: the gate's gradient is dh ⊙ g and the candidate's is dh ⊙ i."),
    _mutant("nvsi_step_backward", "tanh derivative used for the gate",
            _STEP + "    da = dh * g * (1 - i**2)\n    dc = dh * i * (1 - g**2)\n" + _step_return(),
            "The gate is a sigmoid: its derivative is i (1 - i), not 1 - i² (that is tanh')."),
    _mutant("nvsi_step_backward", "h_prev misses the path through the gate",
            _STEP + _STEP_OK + _step_return(dh_prev="dc @ params['W_hh'].T"),
            "h_prev feeds the gate too: dh_prev = da W_hiᵀ + dc W_hhᵀ, the da W_hiᵀ term is missing."),
    _mutant("nvsi_step_backward", "x misses the path through the gate",
            _STEP + _STEP_OK + _step_return(dx="dc @ params['W_xh'].T"),
            "x feeds the gate too: dx = da W_xiᵀ + dc W_xhᵀ, the da W_xiᵀ term is missing."),
    _mutant("nvsi_step_backward", "weight gradient transposed",
            _STEP + _STEP_OK + _step_return(dw_xi="da.T @ x"),
            "dW_xi must have the shape of W_xi, (D, H): it is xᵀ @ da, not daᵀ @ x."),
    _mutant("nvsi_step_backward", "bias gradient averaged over the batch",
            _STEP + _STEP_OK + _step_return(db_i="da.mean(axis=0)", db_h="dc.mean(axis=0)"),
            "A bias gradient is the sum of da (or dc) over the batch, not the mean."),
    _mutant("nvsi_step_backward", "bias gradient not summed over the batch",
            _STEP + _STEP_OK + _step_return(db_i="da", db_h="dc"),
            "The bias is shared by the batch: its gradient sums da over the batch rows, shape (H,)."),
    # ------------------------------------------------------------------ nvsi_bptt
    _mutant("nvsi_bptt", "gradients of the steps not added up",
            _bptt(accumulate="grads[n] = step[n]"),
            "The weights are shared by all T steps: add every step's gradients, do not keep one step's."),
    _mutant("nvsi_bptt", "gradients averaged over the steps",
            _bptt(after="    grads = {n: v / len(X) for n, v in grads.items()}\n"),
            "The loss is a sum over the steps: add the steps' gradients, do not average them."),
    _mutant("nvsi_bptt", "h0 given the upstream gradient of h_1",
            _bptt(h0="dH[0] + 0 * carried"),
            "dL/dh0 is the \"h_prev\" gradient of the first step's backward, not the gradient on h_1."),
    _mutant("nvsi_bptt", "upstream gradient of the earlier states ignored",
            _bptt(dh_in="(dH[t] if t == len(X) - 1 else 0 * dH[t]) + carried"),
            "Every state has an upstream gradient: add dH[t] at every step, not only at the last.",
            named=False),
    _mutant("nvsi_bptt", "nothing carried back from the next step",
            _bptt(dh_in="dH[t]"),
            "h_t also feeds step t + 1: add that step's \"h_prev\" gradient to dH[t].", named=False),
    _mutant("nvsi_bptt", "step backward at the new state instead of the previous one",
            _bptt(prev_state="states[t + 1]"),
            "Step t goes backward from h_{t-1}, the state it read, not the state it made.", named=False),
    _mutant("nvsi_bptt", "forward pass without the gate",
            _bptt(forward_h="g"),
            "The forward pass must use the gate: h_t = i ⊙ g.", named=False),
    # ------------------------------------------------------------------ gate_gradient_measure
    _mutant("gate_gradient_measure", "Jacobians multiplied in the wrong order",
            _measure(product="P @ J"),
            "∂h_T/∂h_{T-k} = J_T ⋯ J_{T-k+1}: the latest step's Jacobian goes on the left."),
    _mutant("gate_gradient_measure", "diag on the wrong side",
            _measure(jacobian="params['W_hi'].T * (g * i * (1 - i))[0][None, :]"
                              " + params['W_hh'].T * (i * (1 - g**2))[0][None, :]"),
            "The row k of J_t is unit k of h_t: diag(...) multiplies Wᵀ from the left (scale its rows)."),
    _mutant("gate_gradient_measure", "path through the gate left out",
            _measure(jacobian="(i * (1 - g**2))[0][:, None] * params['W_hh'].T"),
            "J_t has two terms: the path through the gate, diag(g ⊙ i(1 - i)) W_hiᵀ, is missing."),
    _mutant("gate_gradient_measure", "candidate path not scaled by the gate",
            _measure(jacobian="(g * i * (1 - i))[0][:, None] * params['W_hi'].T"
                              " + (1 - g**2)[0][:, None] * params['W_hh'].T"),
            "The candidate's path is diag(i ⊙ (1 - g²)) W_hhᵀ: the gate i multiplies it."),
    _mutant("gate_gradient_measure", "one Jacobian too many",
            _measure(chain="jacobians[max(len(jacobians) - k - 1, 0):]"),
            "∂h_T/∂h_{T-k} is a product of exactly k Jacobians (the identity for k = 0)."),
    _mutant("gate_gradient_measure", "spectral norm instead of Frobenius",
            _measure(norm="np.linalg.norm(P, 2)"),
            "The norm asked for is the Frobenius norm (np.linalg.norm(P)), not the spectral norm."),
    _mutant("gate_gradient_measure", "mean gate over the last k steps only",
            _measure(gate="np.mean(gates[len(gates) - k:]) if k else np.mean(gates)"),
            "The mean gate is over all T steps, not only the k steps of the product."),
    _mutant("gate_gradient_measure", "mean of the state, not of the gate",
            _measure(gate="np.mean(hs)"),
            "This is the mean of h_t = i ⊙ g: the mean gate is the mean of i_t."),
    # ------------------------------------------------------------------ gate_verdict
    _mutant("gate_verdict", "a tenth tested before 1e-3",
            _verdict("    r = norms[-1] / norms[0]\n"
                     "    return 'fading' if r < 0.1 else 'vanishing' if r < 1e-3 else 'kept'\n"),
            "Test 1e-3 first: a ratio below 1e-3 is also below a tenth."),
    _mutant("gate_verdict", "ratio upside down",
            _verdict("    r = norms[0] / norms[-1]\n"
                     "    return 'vanishing' if r < 1e-3 else 'fading' if r < 0.1 else 'kept'\n"),
            "The ratio is the norm at the largest k over the norm at k = 1, not the other way round."),
    _mutant("gate_verdict", "last norm compared without dividing",
            _verdict("    r = norms[-1]\n"
                     "    return 'vanishing' if r < 1e-3 else 'fading' if r < 0.1 else 'kept'\n"),
            "The thresholds are relative: divide the last norm by the first (at k = 1)."),
    _mutant("gate_verdict", "last two norms compared",
            _verdict("    r = norms[-1] / norms[-2]\n"
                     "    return 'vanishing' if r < 1e-3 else 'fading' if r < 0.1 else 'kept'\n"),
            "Compare the last norm with the first (k = 1), not with the one before it."),
    _mutant("gate_verdict", "at most instead of below",
            _verdict("    r = norms[-1] / norms[0]\n"
                     "    return 'vanishing' if r <= 1e-3 else 'fading' if r <= 0.1 else 'kept'\n"),
            "A ratio of exactly 1e-3 (or a tenth) is not below it.", named=False),
]
