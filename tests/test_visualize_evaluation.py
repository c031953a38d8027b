"""mrcnn.visualize.evaluation: the precision/recall curve, the overlaps grid and the
tables, checked against hand-made inputs and the canvas."""
import numpy as np
import pytest
from visualize_canvas import (  # noqa: F401  (_close_figures: autouse fixture)
    _close_figures, _pixel_at, _render, _two_square_scene)

from mrcnn import visualize


# ---------------------------------------------------- plot_precision_recall ---

def test_plot_precision_recall_curve_from_compute_ap(tmp_path):
    from mrcnn import utils
    image, gt_boxes, gt_ids, gt_masks, pred_boxes, pred_masks = _two_square_scene()
    ap, precisions, recalls, _ = utils.compute_ap(gt_boxes, gt_ids, gt_masks, pred_boxes,
                                                  np.array([1, 1]), np.array([0.9, 0.8]),
                                                  pred_masks)
    assert ap == pytest.approx(0.5)
    ax = visualize.plot_precision_recall(ap, precisions, recalls,
                                         save_path=str(tmp_path / "pr.png"))
    assert ax.get_title() == "Precision-Recall Curve. AP@50 = 0.500"
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), recalls)
    np.testing.assert_array_equal(line.get_ydata(), precisions)
    buf = _render(ax.figure)
    # The curve is at precision 1 up to recall 0.5: a coloured pixel there.
    px = _pixel_at(ax, buf, 0.25, 1.0)
    assert px[2] > px[0] + 40  # matplotlib's default blue


# ------------------------------------------------------------ plot_overlaps ---

def test_plot_overlaps_grid_and_labels(tmp_path):
    overlaps = np.array([[0.9, 0.0], [0.1, 0.7]])
    fig = visualize.plot_overlaps(np.array([1, 2]), np.array([1, 1]), np.array([0.95, 0.6]),
                                  overlaps, ["BG", "cat", "dog"],
                                  save_path=str(tmp_path / "o.png"))
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.900\nmatch", "0.000\n", "0.100\n", "0.700\nwrong"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat (0.95)", "cat (0.60)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    buf = _render(fig)
    dark = _pixel_at(ax, buf, 0.3, 0.3)   # IoU 0.9: dark blue cell
    light = _pixel_at(ax, buf, 1.3, 0.3)  # IoU 0: (almost) white cell
    assert light.sum() > dark.sum() + 200 and dark[2] > dark[0]


# ------------------------------------------------------------ display_table ---

def test_display_table_text_outside_notebook(capsys):
    html = visualize.display_table([["NAME", "VALUE"], ["a<span>!</span>", 1.5]])
    out = capsys.readouterr().out.splitlines()
    assert out == ["NAME  VALUE", "a!    1.5"]
    assert html.startswith("<table><tr><td>NAME") and "<span>!</span>" in html


# ----------------------------------------------------- display_weight_stats ---

def test_display_weight_stats_flags_dead_weights(capsys):
    import keras
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="live")(inputs)
    outputs = keras.layers.Dense(2, name="dead", kernel_initializer="zeros")(x)
    model = keras.Model(inputs, outputs)
    table = visualize.display_weight_stats(model)
    assert table[0] == ["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]
    names = [row[0] for row in table[1:]]
    assert len(names) == 4
    assert names[0].startswith("live/kernel") and "dead?" not in names[0]
    assert names[2].startswith("dead/kernel") and "dead?" in names[2]
    assert table[1][1] == "(4, 3)"
    assert "dead/kernel" in capsys.readouterr().out
