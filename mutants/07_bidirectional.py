"""Plausible wrong answers to exercise 07_bidirectional, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/07_bidirectional/`` is released to students.
"""

_BMES = '''
def bmes_to_words(chars, tags):
    words, current = [], ""
    for char, tag in zip(chars, tags):
{body}
    if current:
        words.append(current)
    return words
'''

_PRF = '''
def segmentation_prf(gold_words, pred_words):
    def spans(words):
        out, start = set(), 0
        for w in words:
            out.add((start, start + len(w)))
            start += len(w)
        return out
{body}
'''

MUTANTS = [
    {
        "name": "reverse_padded reverses the padding too (X.flip(1))",
        "code": "def reverse_padded(X, lengths):\n    return X.flip(1)\n",
        "caught_by": ["test_reverse_padded"],
    },
    {
        "name": "reverse_padded moves the padding to the front",
        "code": (
            "def reverse_padded(X, lengths):\n"
            "    out = X.clone()\n"
            "    for b, L in enumerate(lengths.tolist()):\n"
            "        out[b] = torch.cat([X[b, L:], X[b, :L].flip(0)])\n"
            "    return out\n"
        ),
        "caught_by": ["test_reverse_padded"],
    },
    {
        "name": "reverse_padded that leaves the last real step in place (reverses lengths - 1 steps)",
        "code": (
            "def reverse_padded(X, lengths):\n"
            "    out = X.clone()\n"
            "    for b, L in enumerate(lengths.tolist()):\n"
            "        out[b, :L - 1] = X[b, :L - 1].flip(0)\n"
            "    return out\n"
        ),
        "caught_by": ["test_reverse_padded"],
    },
    {
        "name": "reverse_padded that calls the course's reference",
        "code": "from course_utils.models.bidirectional import reverse_padded\n",
        "caught_by": ["test_reverse_padded"],
    },
    {
        "name": "backward outputs concatenated without re-reversing them",
        "code": (
            "def bidirectional_outputs(out_fwd, out_bwd_on_reversed, lengths):\n"
            "    both = torch.cat([out_fwd, out_bwd_on_reversed], dim=-1)\n"
            "    mask = torch.arange(both.size(1))[None, :] < lengths[:, None]\n"
            "    return both * mask[:, :, None]\n"
        ),
        "caught_by": ["test_bidirectional_outputs"],
    },
    {
        "name": "backward outputs re-reversed over the whole time axis",
        "code": (
            "def bidirectional_outputs(out_fwd, out_bwd_on_reversed, lengths):\n"
            "    both = torch.cat([out_fwd, out_bwd_on_reversed.flip(1)], dim=-1)\n"
            "    mask = torch.arange(both.size(1))[None, :] < lengths[:, None]\n"
            "    return both * mask[:, :, None]\n"
        ),
        "caught_by": ["test_bidirectional_outputs"],
    },
    {
        "name": "backward half first",
        "code": (
            "def bidirectional_outputs(out_fwd, out_bwd_on_reversed, lengths):\n"
            "    both = torch.cat([reverse_padded(out_bwd_on_reversed, lengths), out_fwd], dim=-1)\n"
            "    mask = torch.arange(both.size(1))[None, :] < lengths[:, None]\n"
            "    return both * mask[:, :, None]\n"
        ),
        "caught_by": ["test_bidirectional_outputs"],
    },
    {
        "name": "padding positions not zeroed",
        "code": (
            "def bidirectional_outputs(out_fwd, out_bwd_on_reversed, lengths):\n"
            "    return torch.cat([out_fwd, reverse_padded(out_bwd_on_reversed, lengths)], dim=-1)\n"
        ),
        "caught_by": ["test_bidirectional_outputs"],
    },
    {
        "name": "an E tag that does not close the word",
        "code": _BMES.format(body='''
        if tag in "BS" and current:
            words.append(current)
            current = ""
        current += char
        if tag == "S":
            words.append(current)
            current = ""'''),
        "caught_by": ["test_bmes_to_words"],
    },
    {
        "name": "a B tag that does not close the word in progress",
        "code": _BMES.format(body='''
        if tag == "S" and current:
            words.append(current)
            current = ""
        current += char
        if tag in "ES":
            words.append(current)
            current = ""'''),
        "caught_by": ["test_bmes_to_words"],
    },
    {
        "name": "bmes_to_words drops a word left open at the end",
        "code": (
            "def bmes_to_words(chars, tags):\n"
            "    words, current = [], ''\n"
            "    for char, tag in zip(chars, tags):\n"
            "        if tag in 'BS' and current:\n"
            "            words.append(current)\n"
            "            current = ''\n"
            "        current += char\n"
            "        if tag in 'ES':\n"
            "            words.append(current)\n"
            "            current = ''\n"
            "    return words\n"
        ),
        "caught_by": ["test_bmes_to_words"],
    },
    {
        "name": "bmes_to_words that crashes on a malformed sequence (M without B)",
        "code": (
            "def bmes_to_words(chars, tags):\n"
            "    words, current = [], None\n"
            "    for char, tag in zip(chars, tags):\n"
            "        if tag == 'S':\n"
            "            words.append(char)\n"
            "        elif tag == 'B':\n"
            "            current = char\n"
            "        elif tag == 'M':\n"
            "            current += char\n"
            "        else:\n"
            "            words.append(current + char)\n"
            "            current = None\n"
            "    return words\n"
        ),
        "caught_by": ["test_bmes_to_words"],
    },
    {
        "name": "F1 over word strings (tokens) instead of spans",
        "code": (
            "from collections import Counter\n"
            "def segmentation_prf(gold_words, pred_words):\n"
            "    correct = n_gold = n_pred = 0\n"
            "    for gold, pred in zip(gold_words, pred_words):\n"
            "        correct += sum((Counter(gold) & Counter(pred)).values())\n"
            "        n_gold += len(gold)\n"
            "        n_pred += len(pred)\n"
            "    p, r = correct / n_pred, correct / n_gold\n"
            "    return p, r, (2 * p * r / (p + r) if p + r else 0.0)\n"
        ),
        "caught_by": ["test_segmentation_prf"],
    },
    {
        "name": "precision and recall swapped",
        "code": _PRF.format(body='''
    correct = n_gold = n_pred = 0
    for gold, pred in zip(gold_words, pred_words):
        g, p = spans(gold), spans(pred)
        correct += len(g & p)
        n_gold += len(g)
        n_pred += len(p)
    precision, recall = correct / n_gold, correct / n_pred
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
'''),
        "caught_by": ["test_segmentation_prf"],
    },
    {
        "name": "precision, recall and F1 averaged over sentences (macro)",
        "code": _PRF.format(body='''
    ps, rs = [], []
    for gold, pred in zip(gold_words, pred_words):
        g, p = spans(gold), spans(pred)
        ps.append(len(g & p) / len(p))
        rs.append(len(g & p) / len(g))
    precision, recall = sum(ps) / len(ps), sum(rs) / len(rs)
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
'''),
        "caught_by": ["test_segmentation_prf"],
    },
    {
        "name": "F1 that divides by zero when nothing is right",
        "code": _PRF.format(body='''
    correct = n_gold = n_pred = 0
    for gold, pred in zip(gold_words, pred_words):
        g, p = spans(gold), spans(pred)
        correct += len(g & p)
        n_gold += len(g)
        n_pred += len(p)
    precision, recall = correct / n_pred, correct / n_gold
    return precision, recall, 2 * precision * recall / (precision + recall)
'''),
        "caught_by": ["test_segmentation_prf"],
    },
]
