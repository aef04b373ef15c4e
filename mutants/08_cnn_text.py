"""Plausible wrong answers to exercise 08_cnn_text, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.

A derivation that calls autograd gives the right numbers: only the hidden block's scan of
its source refuses it, so that mutant is caught but cannot be named (``named_by=None``).
"""

from course_utils.instructor.catalogue import mutant as _mutant

_BACKWARD = '''def conv1d_backward(X, W, b, dY):
    k, n = W.shape[-1], dY.shape[-1]
    dX = np.zeros_like(X, dtype=float)
    dW = np.zeros_like(W, dtype=float)
    db = dY.sum(axis=(0, 2))
    for j in range(k):
'''
_RETURN = "    return {'X': dX, 'W': dW, 'b': db}\n"
_DX = "        dX[:, j:j + n] += np.einsum('bct,ce->bte', dY, W[:, :, j])\n"
_DW = "        dW[:, :, j] = np.einsum('bct,bte->ce', dY, X[:, j:j + n])\n"

_DILATED = '''def dilated_conv1d(X, W, b, d):
    k = W.shape[-1]
'''
_DILATED_LOOP = '''    Y = np.zeros((X.shape[0], W.shape[0], n)) + b[None, :, None]
    for j in range(k):
'''

_KMAX = '''def kmax_pooling(maps, lengths, k):
    B, C, L = maps.shape
    out = np.full((B, C, k), -np.inf, dtype=maps.dtype)
    for i in range(B):
'''

_FIELD = "def receptive_field(kernel_sizes, dilations):\n"
_VERDICT = "def receptive_verdict(field, n):\n"


MUTANTS = [
    # ----------------------------------------------------------------- conv1d_backward
    _mutant("conv1d_backward", "dX overwritten, not accumulated",
            _BACKWARD + _DX.replace("+=", "=") + _DW + _RETURN,
            "A token lies in up to k windows: add each window's share to dX (+=), do not overwrite it."),
    _mutant("conv1d_backward", "dX with the kernel flipped",
            _BACKWARD + _DX.replace("W[:, :, j]", "W[:, :, k - 1 - j]") + _DW + _RETURN,
            "Token t + j met tap j of the filter: dX uses W[:, :, j] there, not the flipped kernel."),
    _mutant("conv1d_backward", "dX not shifted by the tap",
            _BACKWARD + _DX.replace("dX[:, j:j + n]", "dX[:, :n]") + _DW + _RETURN,
            "Tap j of window t read token t + j: its gradient goes to dX[:, t + j], not dX[:, t]."),
    _mutant("conv1d_backward", "dW with the taps reversed",
            _BACKWARD + _DX + _DW.replace("X[:, j:j + n]", "X[:, k - 1 - j:k - 1 - j + n]") + _RETURN,
            "Tap j of the filter multiplies X[:, t + j]: dW[:, :, j] pairs dY with that slice."),
    _mutant("conv1d_backward", "dW averaged over the batch",
            _BACKWARD + _DX + _DW + "    dW = dW / X.shape[0]\n" + _RETURN,
            "The loss sums over the batch: dW sums the examples' gradients, it does not average them."),
    _mutant("conv1d_backward", "db averaged over the windows",
            _BACKWARD + _DX + _DW + "    db = dY.mean(axis=(0, 2))\n" + _RETURN,
            "The bias is added to every window of every example: db is the sum of dY, not its mean."),
    _mutant("conv1d_backward", "dX channels-first (B, E, T)",
            _BACKWARD + _DX + _DW + "    dX = dX.transpose(0, 2, 1)\n" + _RETURN,
            "dX has the shape of X, (B, T, E): time second, embeddings last (not Conv1d's (B, E, T))."),
    _mutant("conv1d_backward", "autograd through F.conv1d (refused in a derivation)",
            '''def conv1d_backward(X, W, b, dY):
    import torch
    import torch.nn.functional as F
    x, w, bias = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (X, W, b))
    y = F.conv1d(x.transpose(1, 2), w, bias)
    gx, gw, gb = torch.autograd.grad(y, (x, w, bias), torch.tensor(dY, dtype=torch.float64))
    return {'X': gx.numpy(), 'W': gw.numpy(), 'b': gb.numpy()}
''',
            "A derivation is written in numpy: torch computes the gradient for you.", named=False),
    # ----------------------------------------------------------------- dilated_conv1d
    _mutant("dilated_conv1d", "dilation ignored",
            _DILATED + "    n = X.shape[1] - k + 1\n" + _DILATED_LOOP
            + "        Y += np.einsum('bte,ce->bct', X[:, j:j + n], W[:, :, j])\n    return Y\n",
            "The taps of a dilated filter are d tokens apart: tap j reads X[:, t + d j]."),
    _mutant("dilated_conv1d", "stride d instead of dilation d",
            _DILATED + "    n = (X.shape[1] - k) // d + 1\n" + _DILATED_LOOP
            + "        Y += np.einsum('bte,ce->bct', X[:, j:j + d * (n - 1) + 1:d], W[:, :, j])\n    return Y\n",
            "This is a stride (windows d apart); dilation spaces the taps inside one window, stride 1."),
    _mutant("dilated_conv1d", "span d k instead of d (k - 1) + 1",
            _DILATED + "    n = X.shape[1] - d * k + 1\n" + _DILATED_LOOP
            + "        Y += np.einsum('bte,ce->bct', X[:, d * j:d * j + n], W[:, :, j])\n    return Y\n",
            "A dilated filter spans d (k - 1) + 1 tokens, so there are T - d (k - 1) windows."),
    _mutant("dilated_conv1d", "d zeros between the taps",
            _DILATED + "    n = X.shape[1] - (d + 1) * (k - 1)\n" + _DILATED_LOOP
            + "        Y += np.einsum('bte,ce->bct', X[:, (d + 1) * j:(d + 1) * j + n], W[:, :, j])\n"
            "    return Y\n",
            "Dilation d puts d - 1 skipped tokens between taps (d = 1 is the plain convolution)."),
    _mutant("dilated_conv1d", "kernel flipped",
            _DILATED + "    n = X.shape[1] - d * (k - 1)\n" + _DILATED_LOOP
            + "        Y += np.einsum('bte,ce->bct', X[:, d * j:d * j + n], W[:, :, k - 1 - j])\n    return Y\n",
            "F.conv1d does not flip the kernel: tap j = 0 reads the window's first token."),
    _mutant("dilated_conv1d", "bias left out",
            _DILATED + "    n = X.shape[1] - d * (k - 1)\n"
            + _DILATED_LOOP.replace(" + b[None, :, None]", "")
            + "        Y += np.einsum('bte,ce->bct', X[:, d * j:d * j + n], W[:, :, j])\n    return Y\n",
            "Each filter's bias b[c] is added to every position of its feature map."),
    # ----------------------------------------------------------------- kmax_pooling
    _mutant("kmax_pooling", "sorted by value, largest first",
            _KMAX + "        m = min(k, int(lengths[i]))\n"
            "        out[i, :, :m] = -np.sort(-maps[i, :, :lengths[i]], axis=1)[:, :m]\n    return out\n",
            "k-max pooling keeps the k values in their order in the sentence, not sorted by size."),
    _mutant("kmax_pooling", "padding positions included",
            _KMAX + "        m = min(k, L)\n"
            "        keep = np.sort(np.argsort(-maps[i], axis=1, kind='stable')[:, :m], axis=1)\n"
            "        out[i, :, :m] = np.take_along_axis(maps[i], keep, axis=1)\n    return out\n",
            "Only the first lengths[b] positions are valid: padding must never be picked."),
    _mutant("kmax_pooling", "padded with 0 instead of -inf",
            _KMAX + "        valid = maps[i, :, :lengths[i]]\n        m = min(k, valid.shape[1])\n"
            "        keep = np.sort(np.argsort(-valid, axis=1, kind='stable')[:, :m], axis=1)\n"
            "        out[i, :, :m] = np.take_along_axis(valid, keep, axis=1)\n"
            "        out[i, :, m:] = 0.0\n    return out\n",
            "A row with fewer than k valid positions is filled with -inf after its values, not 0."),
    _mutant("kmax_pooling", "ties: the later position first",
            _KMAX + "        valid = maps[i, :, :lengths[i]]\n        m = min(k, valid.shape[1])\n"
            "        keep = np.sort(np.argsort(valid, axis=1, kind='stable')[:, valid.shape[1] - m:], axis=1)\n"
            "        out[i, :, :m] = np.take_along_axis(valid, keep, axis=1)\n    return out\n",
            "Among equal values the earlier position wins: sort -values stably, not values."),
    _mutant("kmax_pooling", "one valid position too many",
            _KMAX + "        valid = maps[i, :, :lengths[i] + 1]\n        m = min(k, valid.shape[1])\n"
            "        keep = np.sort(np.argsort(-valid, axis=1, kind='stable')[:, :m], axis=1)\n"
            "        out[i, :, :m] = np.take_along_axis(valid, keep, axis=1)\n    return out\n",
            "Positions 0 .. lengths[b] - 1 are valid: position lengths[b] is the first padding."),
    _mutant("kmax_pooling", "float32 turned into float64",
            _KMAX.replace("dtype=maps.dtype", "dtype=float")
            + "        valid = maps[i, :, :lengths[i]]\n        m = min(k, valid.shape[1])\n"
            "        keep = np.sort(np.argsort(-valid, axis=1, kind='stable')[:, :m], axis=1)\n"
            "        out[i, :, :m] = np.take_along_axis(valid, keep, axis=1)\n    return out\n",
            "The result is float64 for float32 feature maps: keep the dtype of maps."),
    # ----------------------------------------------------------------- receptive_field
    _mutant("receptive_field", "span only: no holes counted",
            _FIELD + "    span = 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))\n"
            "    return {'span': span, 'seen': span}\n",
            "A dilated stack can skip tokens inside its span: count the non-zero entries of the response."),
    _mutant("receptive_field", "dilations multiplied, not added",
            _FIELD + "    span = 1\n    for k, d in zip(kernel_sizes, dilations):\n        span *= d * (k - 1) + 1\n"
            "    return {'span': span, 'seen': span}\n",
            "Spans add up: each layer widens the field by d (k - 1) tokens, it does not multiply it."),
    _mutant("receptive_field", "span d k per layer",
            _FIELD + "    response = np.ones(1)\n    for k, d in zip(kernel_sizes, dilations):\n"
            "        taps = np.zeros(d * k)\n        taps[::d] = 1.0\n        response = np.convolve(response, taps)\n"
            "    return {'span': int(response.size), 'seen': int(np.count_nonzero(response))}\n",
            "A dilated filter spans d (k - 1) + 1 tokens: its taps are 0, d, ..., d (k - 1)."),
    # ----------------------------------------------------------------- receptive_verdict
    _mutant("receptive_verdict", "holes ignored",
            _VERDICT + "    return 'too_narrow' if field['span'] < n else 'sees_ngram'\n",
            "A span with holes does not see every token in it: that is 'gapped'."),
    _mutant("receptive_verdict", "holes tested before the span",
            _VERDICT + "    if field['seen'] < field['span']:\n        return 'gapped'\n"
            "    return 'too_narrow' if field['span'] < n else 'sees_ngram'\n",
            "Test the span first: a field narrower than n is 'too_narrow', holes or not."),
    _mutant("receptive_verdict", "strictly wider than n",
            _VERDICT + "    if field['span'] <= n:\n        return 'too_narrow'\n"
            "    return 'gapped' if field['seen'] < field['span'] else 'sees_ngram'\n",
            "A field of exactly n tokens sees an n-gram: 'too_narrow' is a span below n."),
]
