"""Training curves from TensorBoard logs.

:func:`read_tensorboard_scalars` reads the scalars of the event files that
``MaskRCNN.train``'s TensorBoard callback writes under ``model.log_dir``;
:func:`plot_training_curves` plots the per-epoch losses, train and
validation together.
"""

import glob
import os

import matplotlib.pyplot as plt
import numpy as np

from mrcnn.visualize.instances import _finish_figure


def read_tensorboard_scalars(log_dir):
    """Read the scalars of the TensorBoard event files under ``log_dir``
    (a training run's directory, e.g. ``model.log_dir``).

    Returns ``{run: {tag: [(step, value), ...]}}`` where run is the
    sub-directory (``"train"``, ``"validation"``), steps sorted; a later
    value for the same step (a resumed run) replaces the earlier one.
    """
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    paths = sorted(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"),
                             recursive=True))
    if not paths:
        raise FileNotFoundError("no TensorBoard event files under {}".format(log_dir))
    scalars = {}
    for path in paths:
        run = os.path.relpath(os.path.dirname(path), log_dir)
        run = "." if run == os.curdir else run
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = float(value.simple_value)
                elif kind == "tensor":
                    array = tf.make_ndarray(value.tensor)
                    if array.size != 1 or array.dtype.kind not in "fiu":
                        continue
                    number = float(array.reshape(()))
                else:
                    continue
                scalars.setdefault(run, {}).setdefault(value.tag, {})[int(event.step)] = number
    return {run: {tag: sorted(steps.items()) for tag, steps in tags.items()}
            for run, tags in scalars.items()}


def plot_training_curves(log_dir, tags=None, save_path=None):
    """Plot the per-epoch losses written while training (one panel per
    loss, train and validation together).

    log_dir: a training run's directory (``model.log_dir``).
    tags: loss names to plot, e.g. ``["loss", "mrcnn_mask_loss"]``
        (default: every ``epoch_*`` scalar but the learning rate).
    Returns the figure.
    """
    scalars = read_tensorboard_scalars(log_dir)
    if tags is None:
        names = sorted({t[len("epoch_"):] for runs in scalars.values() for t in runs
                        if t.startswith("epoch_") and t != "epoch_learning_rate"})
        if "loss" in names:
            names.remove("loss")
            names.insert(0, "loss")
    else:
        names = list(tags)
    if not names:
        raise ValueError("no epoch_* scalars in {}".format(log_dir))
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for run in sorted(scalars):
            points = scalars[run].get("epoch_" + name)
            if points:
                steps, values = zip(*points)
                ax.plot(np.asarray(steps) + 1, values, marker="o", label=run)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    _finish_figure(fig, True, save_path)
    return fig
