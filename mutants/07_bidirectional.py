"""Plausible wrong answers to exercise 07_bidirectional, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.

Tag ids are those of the chapter (``course_utils.models.tagger.TAGS == "BMES"``):
B = 0, M = 1, E = 2, S = 3.
"""

from course_utils.instructor.catalogue import edit as _edit
from course_utils.instructor.catalogue import mutant as _mutant

# A log-sum-exp written the way a student would, shifted by the maximum (0 where it is -inf).
_LSE = '''    def logsumexp(x, axis):
        m = x.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))
'''

_PARTITION = '''def crf_log_partition(emissions, transitions, start, end):
''' + _LSE + '''    alpha = start + emissions[0]
    for t in range(1, len(emissions)):
        alpha = logsumexp(alpha[:, None] + transitions, axis=0) + emissions[t]
    return float(logsumexp(alpha + end, axis=0))
'''

_NLL = '''def crf_nll_and_grads(emissions, transitions, start, end, tags):
''' + _LSE + '''    T, K = emissions.shape
    y = np.asarray(tags)
    log_z = crf_log_partition(emissions, transitions, start, end)
    alpha, beta = np.zeros((T, K)), np.zeros((T, K))
    alpha[0] = start + emissions[0]
    for t in range(1, T):
        alpha[t] = logsumexp(alpha[t - 1][:, None] + transitions, axis=0) + emissions[t]
    beta[T - 1] = end
    for t in range(T - 2, -1, -1):
        beta[t] = logsumexp(transitions + emissions[t + 1] + beta[t + 1], axis=1)
    p = np.exp(alpha + beta - log_z)
    pairs = np.exp(alpha[:-1, :, None] + transitions + (emissions[1:] + beta[1:])[:, None, :] - log_z)
    steps = np.arange(T)
    score = start[y[0]] + emissions[steps, y].sum() + transitions[y[:-1], y[1:]].sum() + end[y[-1]]
    d_em = p.copy()
    d_em[steps, y] -= 1
    d_tr = pairs.sum(axis=0)
    np.add.at(d_tr, (y[:-1], y[1:]), -1)
    d_st = p[0].copy()
    d_st[y[0]] -= 1
    d_en = p[-1].copy()
    d_en[y[-1]] -= 1
    nll = log_z - score
    return float(nll), {"emissions": d_em, "transitions": d_tr, "start": d_st, "end": d_en}
'''

_GAIN = '''def context_gain(gold, fwd, bi):
    gold, fwd, bi = np.asarray(gold), np.asarray(fwd), np.asarray(bi)
    starts, ends = gold == 0, gold == 2
    gain_start = np.mean(bi[starts] == gold[starts]) - np.mean(fwd[starts] == gold[starts])
    gain_end = np.mean(bi[ends] == gold[ends]) - np.mean(fwd[ends] == gold[ends])
    return float(gain_start), float(gain_end)
'''

_VERDICT = '''def context_verdict(gains):
    starts, ends = gains[0] >= 0.02, gains[1] >= 0.02
    if starts and ends:
        return "helps_both"
    if starts:
        return "helps_word_starts"
    if ends:
        return "helps_word_ends"
    return "no_gain"
'''


MUTANTS = [
    # ----------------------------------------------------------------- crf_log_partition
    _mutant("crf_log_partition", "no max shift",
            _edit(_PARTITION, ("np.squeeze(m, axis) + np.log(np.exp(x - m)", "np.log(np.exp(x)")),
            "Without subtracting the maximum, exp overflows for scores of ±1000: shift inside log-sum-exp."),
    _mutant("crf_log_partition", "shifted by -inf",
            _edit(_PARTITION, ("        m = np.where(np.isfinite(m), m, 0.0)\n", "")),
            "When every term is -inf, x - max(x) is -inf - (-inf) = nan: shift by 0 there (the sum is -inf)."),
    _mutant("crf_log_partition", "transitions transposed",
            _edit(_PARTITION, ("logsumexp(alpha[:, None] + transitions, axis=0)",
                               "logsumexp(alpha[None, :] + transitions, axis=1)")),
            "transitions[a, b] scores tag a followed by b: sum over the previous tag a, the first index."),
    _mutant("crf_log_partition", "sum over the next tag",
            _edit(_PARTITION, ("logsumexp(alpha[:, None] + transitions, axis=0)",
                               "logsumexp(alpha[:, None] + transitions, axis=1)")),
            "alpha_t[b] sums over the previous tag a of alpha_{t-1}[a] + transitions[a, b] (axis 0)."),
    _mutant("crf_log_partition", "end scores left out",
            _edit(_PARTITION, ("logsumexp(alpha + end, axis=0)", "logsumexp(alpha, axis=0)")),
            "The end scores are missing: add end to the last alpha before the final log-sum-exp."),
    _mutant("crf_log_partition", "start scores left out",
            _edit(_PARTITION, ("alpha = start + emissions[0]", "alpha = emissions[0]")),
            "The start scores are missing: alpha_0 = start + emissions[0]."),
    _mutant("crf_log_partition", "first emissions left out",
            _edit(_PARTITION, ("alpha = start + emissions[0]", "alpha = start.copy()")),
            "The first character's emissions are missing: alpha_0 = start + emissions[0]."),
    _mutant("crf_log_partition", "max instead of log-sum-exp",
            _edit(_PARTITION, ("np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))",
                               "x.max(axis=axis)")),
            "This is the best path's score (max, as in Viterbi), not log Z: sum over the paths."),
    # ----------------------------------------------------------------- crf_nll_and_grads
    _mutant("crf_nll_and_grads", "gradients with the wrong sign",
            _edit(_NLL, ('return float(nll), {"emissions": d_em, "transitions": d_tr, "start": d_st, "end": d_en}',
                         'return float(nll), {"emissions": -d_em, "transitions": -d_tr, "start": -d_st, '
                         '"end": -d_en}')),
            "The gradient is the expected counts minus the gold counts, not gold minus expected."),
    _mutant("crf_nll_and_grads", "score minus log Z",
            _edit(_NLL, ("nll = log_z - score", "nll = score - log_z")),
            "The NLL is log Z − score(y), never negative: score(y) − log Z is the log-likelihood."),
    _mutant("crf_nll_and_grads", "repeated transitions counted once",
            _edit(_NLL, ("np.add.at(d_tr, (y[:-1], y[1:]), -1)", "d_tr[y[:-1], y[1:]] -= 1")),
            "d_tr[y[:-1], y[1:]] -= 1 counts a repeated transition once: use np.add.at to count them all."),
    _mutant("crf_nll_and_grads", "marginals from alpha alone",
            _edit(_NLL, ("p = np.exp(alpha + beta - log_z)",
                         "p = np.exp(alpha - logsumexp(alpha, axis=1)[:, None])"),
                  ("pairs = np.exp(alpha[:-1, :, None] + transitions + (emissions[1:] + beta[1:])[:, None, :] - log_z)",
                   "pairs = alpha[:-1, :, None] + transitions + emissions[1:][:, None, :]\n"
                   "    pairs = np.exp(pairs - logsumexp(pairs.reshape(T - 1, K * K), axis=1)[:, None, None])")),
            "Marginals need both passes: P(y_t = k) = exp(alpha_t[k] + beta_t[k] − log Z), not alpha alone."),
    _mutant("crf_nll_and_grads", "beta starts at 0",
            _edit(_NLL, ("beta[T - 1] = end", "beta[T - 1] = 0.0")),
            "beta_{T-1} is the end scores, not 0: every marginal must include end."),
    _mutant("crf_nll_and_grads", "pair marginals without the next emission",
            _edit(_NLL, ("(emissions[1:] + beta[1:])[:, None, :]", "beta[1:][:, None, :]")),
            "P(y_t = a, y_t+1 = b) needs alpha_t[a] + transitions[a, b] + emissions[t+1, b] + beta_t+1[b]."),
    _mutant("crf_nll_and_grads", "transition gradient transposed",
            _edit(_NLL, ("d_tr = pairs.sum(axis=0)", "d_tr = pairs.sum(axis=0).T")),
            "transitions[a, b] is a followed by b: the first index of the pair marginal is the earlier tag."),
    _mutant("crf_nll_and_grads", "start and end gradients left at zero",
            _edit(_NLL, ("d_st = p[0].copy()", "d_st = 0 * p[0]"), ("d_st[y[0]] -= 1", ""),
                  ("d_en = p[-1].copy()", "d_en = 0 * p[-1]"), ("d_en[y[-1]] -= 1", "")),
            "start and end have gradients too: P(y_0 = k) − [y_0 = k] and P(y_T-1 = k) − [y_T-1 = k]."),
    _mutant("crf_nll_and_grads", "mean over the characters",
            _edit(_NLL, ('return float(nll), {"emissions": d_em, "transitions": d_tr, "start": d_st, "end": d_en}',
                         'return float(nll) / T, {"emissions": d_em / T, "transitions": d_tr / T, '
                         '"start": d_st / T, "end": d_en / T}')),
            "This is divided by T: the NLL of a sentence is log Z − score(y), a sum, not a mean."),
    # ----------------------------------------------------------------- context_gain
    _mutant("context_gain", "fwd minus bi",
            _edit(_GAIN, ("np.mean(bi[starts] == gold[starts]) - np.mean(fwd[starts] == gold[starts])",
                          "np.mean(fwd[starts] == gold[starts]) - np.mean(bi[starts] == gold[starts])"),
                  ("np.mean(bi[ends] == gold[ends]) - np.mean(fwd[ends] == gold[ends])",
                   "np.mean(fwd[ends] == gold[ends]) - np.mean(bi[ends] == gold[ends])")),
            "The gain is the bidirectional tagger's accuracy minus the left-to-right one's (bi − fwd)."),
    _mutant("context_gain", "single-character words counted",
            _edit(_GAIN, ("starts, ends = gold == 0, gold == 2", "starts, ends = (gold == 0) | (gold == 3), "
                          "(gold == 2) | (gold == 3)")),
            "Single-character words (S) are neither starts nor ends of multi-character words: B and E only."),
    _mutant("context_gain", "accuracy over every character",
            _edit(_GAIN, ("starts, ends = gold == 0, gold == 2", "starts = ends = gold >= 0")),
            "Both gains are over all characters: measure at the word starts (B) and the word ends (E)."),
    _mutant("context_gain", "word ends taken as M",
            _edit(_GAIN, ("starts, ends = gold == 0, gold == 2", "starts, ends = gold == 0, gold == 1")),
            "The ids follow TAGS = 'BMES' (B = 0, M = 1, E = 2, S = 3): word ends are E = 2."),
    _mutant("context_gain", "gains in the wrong order",
            _edit(_GAIN, ("return float(gain_start), float(gain_end)", "return float(gain_end), float(gain_start)")),
            "The tuple is (gain at word starts, gain at word ends), in that order."),
    _mutant("context_gain", "counts instead of accuracies",
            _edit(_GAIN, ("np.mean", "np.sum")),
            "These are numbers of correct tags: divide by the number of word starts (ends) for accuracies."),
    # ----------------------------------------------------------------- context_verdict
    _mutant("context_verdict", "gains read swapped",
            _edit(_VERDICT, ("starts, ends = gains[0] >= 0.02, gains[1] >= 0.02",
                             "ends, starts = gains[0] >= 0.02, gains[1] >= 0.02")),
            "gains[0] is the gain at word starts, gains[1] the gain at word ends."),
    _mutant("context_verdict", "losses counted as gains",
            _edit(_VERDICT, ("starts, ends = gains[0] >= 0.02, gains[1] >= 0.02",
                             "starts, ends = abs(gains[0]) >= 0.02, abs(gains[1]) >= 0.02")),
            "A negative gain is a loss: only a gain of at least +0.02 counts."),
    _mutant("context_verdict", "helps_both never returned",
            _edit(_VERDICT, ("    if starts and ends:\n        return \"helps_both\"\n", "")),
            "Check 'helps_both' first: when both gains reach 0.02, the answer is 'helps_both'."),
    _mutant("context_verdict", "threshold in percent",
            _edit(_VERDICT, ("gains[0] >= 0.02, gains[1] >= 0.02", "gains[0] >= 2, gains[1] >= 2")),
            "The gains are fractions (0.05 is 5 points of accuracy): the threshold is 0.02."),
    _mutant("context_verdict", "strictly above 0.02",
            _edit(_VERDICT, ("gains[0] >= 0.02, gains[1] >= 0.02", "gains[0] > 0.02, gains[1] > 0.02")),
            "A gain of exactly 0.02 counts: it is at least 0.02.", named=False),
]
