"""Plausible wrong answers to exercise 03_rnn, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/03_rnn/`` is released to students.
"""

_LOOP = '''
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(X.shape[1]):
        h = rnn_cell_forward(X[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
'''

MUTANTS = [
    {
        "name": "cell without the tanh",
        "code": "def rnn_cell_forward(x, h_prev, W_xh, W_hh, b_h):\n    return x @ W_xh + h_prev @ W_hh + b_h\n",
        "caught_by": ["test_rnn_cell_forward"],
    },
    {
        "name": "cell with W_hh transposed",
        "code": "def rnn_cell_forward(x, h_prev, W_xh, W_hh, b_h):\n"
                "    return torch.tanh(x @ W_xh + h_prev @ W_hh.T + b_h)\n",
        "caught_by": ["test_rnn_cell_forward"],
    },
    {
        "name": "cell without the bias",
        "code": "def rnn_cell_forward(x, h_prev, W_xh, W_hh, b_h):\n    return torch.tanh(x @ W_xh + h_prev @ W_hh)\n",
        "caught_by": ["test_rnn_cell_forward"],
    },
    {
        "name": "cell through torch.nn.RNNCell (a forbidden shortcut)",
        "code": "def rnn_cell_forward(x, h_prev, W_xh, W_hh, b_h):\n"
                "    cell = torch.nn.RNNCell(W_xh.shape[0], W_xh.shape[1]).to(x.dtype)\n"
                "    with torch.no_grad():\n"
                "        cell.weight_ih.copy_(W_xh.T); cell.weight_hh.copy_(W_hh.T)\n"
                "        cell.bias_ih.copy_(b_h); cell.bias_hh.zero_()\n"
                "    return cell(x, h_prev)\n",
        "caught_by": ["test_rnn_cell_forward"],
    },
    {
        "name": "loop that returns the last state as all states",
        "code": _LOOP + "    return h.unsqueeze(1).expand(-1, X.shape[1], -1), h\n",
        "caught_by": ["test_rnn_forward"],
    },
    {
        "name": "loop that ignores h0 and starts from zeros",
        "code": _LOOP.replace("h, states = h0, []", "h, states = torch.zeros_like(h0), []")
                + "    return torch.stack(states, dim=1), h\n",
        "caught_by": ["test_rnn_forward"],
    },
    {
        "name": "states stacked time first, (T, B, H)",
        "code": _LOOP + "    return torch.stack(states, dim=0), h\n",
        "caught_by": ["test_rnn_forward"],
    },
    {
        "name": "states recorded before each step (h0 in, last state out)",
        "code": "def rnn_forward(X, h0, W_xh, W_hh, b_h):\n"
                "    h, states = h0, []\n"
                "    for t in range(X.shape[1]):\n"
                "        states.append(h)\n"
                "        h = rnn_cell_forward(X[:, t], h, W_xh, W_hh, b_h)\n"
                "    return torch.stack(states, dim=1), h\n",
        "caught_by": ["test_rnn_forward"],
    },
    {
        "name": "each tensor clipped on its own",
        "code": "def clip_grad_norm(grads, max_norm):\n"
                "    total = float(sum((g**2).sum() for g in grads)) ** 0.5\n"
                "    for g in grads:\n"
                "        n = float(g.norm())\n"
                "        if n > max_norm:\n"
                "            g.mul_(max_norm / n)\n"
                "    return total\n",
        "caught_by": ["test_clip_grad_norm"],
    },
    {
        "name": "clipping that returns the norm after clipping",
        "code": "def clip_grad_norm(grads, max_norm):\n"
                "    total = float(sum((g**2).sum() for g in grads)) ** 0.5\n"
                "    if total > max_norm:\n"
                "        for g in grads:\n"
                "            g.mul_(max_norm / total)\n"
                "    return min(total, max_norm)\n",
        "caught_by": ["test_clip_grad_norm"],
    },
    {
        "name": "clipping that always rescales to max_norm",
        "code": "def clip_grad_norm(grads, max_norm):\n"
                "    total = float(sum((g**2).sum() for g in grads)) ** 0.5\n"
                "    for g in grads:\n"
                "        g.mul_(max_norm / total)\n"
                "    return total\n",
        "caught_by": ["test_clip_grad_norm"],
    },
    {
        "name": "norm as the sum of the tensors' norms",
        "code": "def clip_grad_norm(grads, max_norm):\n"
                "    total = float(sum(g.norm() for g in grads))\n"
                "    if total > max_norm:\n"
                "        for g in grads:\n"
                "            g.mul_(max_norm / total)\n"
                "    return total\n",
        "caught_by": ["test_clip_grad_norm"],
    },
    {
        "name": "clipping that returns new tensors instead of changing them in place",
        "code": "def clip_grad_norm(grads, max_norm):\n"
                "    total = float(sum((g**2).sum() for g in grads)) ** 0.5\n"
                "    if total > max_norm:\n"
                "        grads = [g * (max_norm / total) for g in grads]\n"
                "    return total\n",
        "caught_by": ["test_clip_grad_norm"],
    },
    {
        "name": "logits multiplied by the temperature",
        "code": "def sample_next(logits, temperature, generator):\n"
                "    if temperature == 0:\n"
                "        return logits.argmax(dim=-1)\n"
                "    probs = torch.softmax(logits * temperature, dim=-1)\n"
                "    return torch.multinomial(probs, 1, generator=generator).squeeze(1)\n",
        "caught_by": ["test_sample_next"],
    },
    {
        "name": "sampling that ignores the generator",
        "code": "def sample_next(logits, temperature, generator):\n"
                "    if temperature == 0:\n"
                "        return logits.argmax(dim=-1)\n"
                "    probs = torch.softmax(logits / temperature, dim=-1)\n"
                "    return torch.multinomial(probs, 1).squeeze(1)\n",
        "caught_by": ["test_sample_next"],
    },
    {
        "name": "always greedy",
        "code": "def sample_next(logits, temperature, generator):\n    return logits.argmax(dim=-1)\n",
        "caught_by": ["test_sample_next"],
    },
    {
        "name": "greedy picks the smallest logit",
        "code": "def sample_next(logits, temperature, generator):\n"
                "    if temperature == 0:\n"
                "        return logits.argmin(dim=-1)\n"
                "    probs = torch.softmax(logits / temperature, dim=-1)\n"
                "    return torch.multinomial(probs, 1, generator=generator).squeeze(1)\n",
        "caught_by": ["test_sample_next"],
    },
    {
        "name": "sample_next that calls the course's reference",
        "code": "from course_utils.models.rnn import sample_next\n",
        "caught_by": ["test_sample_next"],
    },
]
