"""Evaluation plots and tables.

:func:`plot_precision_recall` and :func:`plot_overlaps` draw what
``utils.compute_ap`` and ``utils.compute_matches`` return;
:func:`display_table` shows rows as HTML in a notebook and as text elsewhere,
and :func:`display_weight_stats` tabulates a model's weights with it.
"""

import html as _html
import itertools

import matplotlib.pyplot as plt
import numpy as np

from mrcnn.visualize.instances import _finish_figure


############################################################
#  Plots
############################################################

def plot_precision_recall(AP, precisions, recalls, ax=None, save_path=None):
    """Plot the precision/recall curve returned by ``utils.compute_ap``,
    titled with the AP. Returns the axes."""
    created = ax is None
    if created:
        _, ax = plt.subplots(1)
    ax.set_title("Precision-Recall Curve. AP@50 = {:.3f}".format(AP))
    ax.set_ylim(0, 1.1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.plot(recalls, precisions)
    _finish_figure(ax.figure, created, save_path)
    return ax


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores,
                  overlaps, class_names, threshold=0.5, save_path=None):
    """Draw the IoU grid of predictions (rows) against ground truth
    (columns), as ``utils.compute_matches`` returns it. Cells above
    ``threshold`` are labelled "match" (same class) or "wrong".

    Class id 0 (padding) is dropped from both id lists, as matterport did.
    Returns the figure.
    """
    gt_class_ids = np.asarray(gt_class_ids)
    pred_class_ids = np.asarray(pred_class_ids)
    gt_class_ids = gt_class_ids[gt_class_ids != 0]
    pred_class_ids = pred_class_ids[pred_class_ids != 0]
    overlaps = np.asarray(overlaps)
    fig, ax = plt.subplots(1, figsize=(12, 10))
    ax.imshow(overlaps, interpolation="nearest", cmap=plt.cm.Blues, vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(pred_class_ids)))
    ax.set_yticklabels(["{} ({:.2f})".format(class_names[int(c)], pred_scores[i])
                        for i, c in enumerate(pred_class_ids)])
    ax.set_xticks(np.arange(len(gt_class_ids)))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    half = overlaps.max() / 2. if overlaps.size else 0
    for i, j in itertools.product(range(overlaps.shape[0]), range(overlaps.shape[1])):
        text = ""
        if overlaps[i, j] > threshold:
            text = "match" if gt_class_ids[j] == pred_class_ids[i] else "wrong"
        color = ("white" if overlaps[i, j] > half
                 else "black" if overlaps[i, j] > 0 else "grey")
        ax.text(j, i, "{:.3f}\n{}".format(overlaps[i, j], text),
                horizontalalignment="center", verticalalignment="center",
                fontsize=9, color=color)
    ax.set_xlabel("Ground Truth")
    ax.set_ylabel("Predictions")
    fig.tight_layout()
    _finish_figure(fig, True, save_path)
    return fig


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def display_table(table):
    """Show rows of values as a table: HTML in a Jupyter notebook, aligned
    text elsewhere. Cell values may contain HTML in a notebook (e.g. the red
    alerts of :func:`display_weight_stats`); tags are stripped from the text
    form.

    Returns the HTML string.
    """
    rows = [[str(col) for col in row] for row in table]
    html = "<table>" + "".join(
        "<tr>" + "".join("<td>{:40}</td>".format(col) for col in row) + "</tr>"
        for row in rows) + "</table>"
    if _in_notebook():
        import IPython.display
        IPython.display.display(IPython.display.HTML(html))
    else:
        import re
        plain = [[_html.unescape(re.sub(r"<[^>]+>", "", col)) for col in row] for row in rows]
        widths = [max(len(r[k]) for r in plain if k < len(r))
                  for k in range(max((len(r) for r in plain), default=0))]
        for row in plain:
            print("  ".join(col.ljust(widths[k]) for k, col in enumerate(row)).rstrip())
    return html


def display_weight_stats(model):
    """Table of every weight of the model's layers that have weights: name,
    shape, min, max and standard deviation, flagging weights that are
    constant ("dead?", except conv biases) or beyond +-1000 ("Overflow?").

    model: a MaskRCNN (its ``get_trainable_layers()``) or a Keras model.
    Returns the table's rows (header first), after showing them with
    :func:`display_table`.
    """
    if hasattr(model, "get_trainable_layers"):
        layers = model.get_trainable_layers()
    else:
        layers = [l for l in model.layers if l.get_weights()]
    table = [["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]]
    for layer in layers:
        for k, (w, var) in enumerate(zip(layer.get_weights(), layer.weights)):
            name = getattr(var, "path", None) or var.name
            alert = ""
            is_bias = layer.__class__.__name__ == "Conv2D" and k == 1
            if w.size and w.min() == w.max() and not is_bias:
                alert += "<span style='color:red'>*** dead?</span>"
            if w.size and (np.abs(w.min()) > 1000 or np.abs(w.max()) > 1000):
                alert += "<span style='color:red'>*** Overflow?</span>"
            table.append([name + alert, str(w.shape),
                          "{:+9.4f}".format(w.min() if w.size else 0),
                          "{:+10.4f}".format(w.max() if w.size else 0),
                          "{:+9.4f}".format(w.std() if w.size else 0)])
    display_table(table)
    return table
