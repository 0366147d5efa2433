"""Precision, recall and F1 from counts, with one rule for empty sets everywhere.

Nothing true: recall is 1 (nothing was missed). Nothing predicted: precision is 1 when nothing
was true either, else 0 (so F1 is 0 when something was missed and nothing claimed). Used by
the tagger's validation, ``vision.detect_instruments`` and the presence benchmark.
"""


def precision_recall_f1(hits, nb_predicted, nb_true):
    """``(precision, recall, f1)`` of ``hits`` correct claims among ``nb_predicted``, of ``nb_true`` truths."""
    precision = hits / nb_predicted if nb_predicted else float(nb_true == 0)
    recall = hits / nb_true if nb_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
