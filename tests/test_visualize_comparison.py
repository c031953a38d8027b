"""mrcnn.visualize.comparison: boxes burnt into arrays, ground truth against predictions,
anchors/proposals and training RoIs, read back from the canvas."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import patches
from visualize_canvas import (  # noqa: F401  (_close_figures: autouse fixture)
    _close_figures, _is_png, _pixel_at, _render, _two_square_scene)

from mrcnn import visualize


# ----------------------------------------------------------------- draw_box ---

def test_draw_box_hand_computed():
    image = np.zeros((12, 12, 3), dtype=np.uint8)
    out = visualize.draw_box(image, (2, 3, 8, 9), (255, 0, 0))
    assert out is image
    drawn = (image == [255, 0, 0]).all(axis=-1)
    expected = np.zeros((12, 12), dtype=bool)
    expected[2:4, 3:9] = True   # top
    expected[8:10, 3:9] = True  # bottom
    expected[2:8, 3:5] = True   # left
    expected[2:8, 9:11] = True  # right
    np.testing.assert_array_equal(drawn, expected)
    assert (image[~expected] == 0).all()


# ------------------------------------------------------ display_differences ---

def test_display_differences_gt_green_pred_red_and_captions():
    image, gt_boxes, gt_ids, gt_masks, pred_boxes, pred_masks = _two_square_scene()
    fig, ax = plt.subplots(1, figsize=(2, 2), dpi=100)
    visualize.display_differences(image, gt_boxes, gt_ids, gt_masks, pred_boxes,
                                  np.array([1, 1]), np.array([0.9, 0.8]), pred_masks,
                                  ["BG", "square"], ax=ax)
    buf = _render(fig)
    # The unmatched ground truth square: grey blended toward green only.
    g = _pixel_at(ax, buf, 72, 72)
    assert g[1] > g[0] + 40 and g[1] > g[2] + 40
    # The false positive in the corner: red only.
    r = _pixel_at(ax, buf, 85, 10)
    assert r[0] > r[1] + 40 and r[0] > r[2] + 40
    # The matched pair: both green and red blended in (neither grey).
    both = _pixel_at(ax, buf, 32, 32)
    assert abs(int(both[0]) - 128) > 20 and abs(int(both[1]) - 128) > 20
    np.testing.assert_allclose(_pixel_at(ax, buf, 5, 90), [128, 128, 128], atol=3)
    texts = sorted(t.get_text() for t in ax.texts if t.get_text())
    assert texts == ["0.80 / 0.00", "0.90 / 1.00"]


# --------------------------------------------------------------- draw_boxes ---

def test_draw_boxes_masks_refined_boxes_captions_and_visibility(tmp_path):
    image = np.full((100, 100, 3), 128, dtype=np.uint8)
    boxes = np.array([[10, 10, 40, 40], [50, 50, 90, 90], [60, 5, 90, 30]])
    refined = boxes + 2
    masks = np.zeros((100, 100, 3), bool)
    masks[15:35, 15:35, 0] = True
    masks[55:85, 55:85, 1] = True
    fig, ax = plt.subplots(1, figsize=(3, 3), dpi=100)
    visualize.draw_boxes(image, boxes, refined, masks=masks, captions=["a", "b", "c"],
                         visibilities=[2, 1, 0], title="anchors", ax=ax)
    buf = _render(fig)
    for x, y in [(25, 25), (70, 70)]:
        assert np.abs(_pixel_at(ax, buf, x, y) - 128).max() > 40  # mask colour
    np.testing.assert_allclose(_pixel_at(ax, buf, 95, 5), [128, 128, 128], atol=3)
    rects = [p for p in ax.patches if isinstance(p, patches.Rectangle)]
    assert len(rects) == 5  # 3 boxes + 2 refined (visibility 0 has none)
    assert [l for l in ax.lines if len(l.get_xdata()) == 2]  # box -> refined links
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c"]
    assert ax.get_title() == "anchors"
    with pytest.raises(ValueError):
        visualize.draw_boxes(image)
    path = tmp_path / "b.png"
    visualize.draw_boxes(image, refined_boxes=refined, save_path=str(path))
    assert _is_png(path)


# ---------------------------------------------------------------- draw_rois ---

def test_draw_rois_draws_masks_of_positive_rois(tmp_path, capsys):
    image = np.full((100, 100, 3), 128, dtype=np.uint8)
    rois = np.array([[20, 20, 60, 60], [70, 70, 95, 95]], np.float32)
    refined = rois + 3
    mask = np.ones((2, 14, 14), np.float32)
    path = tmp_path / "rois.png"
    ax = visualize.draw_rois(image, rois, refined, mask, np.array([1, 0]),
                             ["BG", "thing"], save_path=str(path))
    assert _is_png(path)
    out = capsys.readouterr().out
    assert "Positive ROIs:  1" in out and "Negative ROIs:  1" in out
    buf = _render(ax.figure)
    assert np.abs(_pixel_at(ax, buf, 40, 40) - 128).max() > 40  # positive's mask
    np.testing.assert_allclose(_pixel_at(ax, buf, 85, 85), [128, 128, 128], atol=3)
    assert [t.get_text() for t in ax.texts] == ["thing"]
    assert ax.get_title() == "2 RoIs"
    np.random.seed(0)
    many = np.tile(rois, (10, 1))
    ax = visualize.draw_rois(image, many, many, np.ones((20, 14, 14)), np.ones(20, int),
                             ["BG", "thing"], limit=5, save_path=str(path))
    assert ax.get_title() == "Showing 5 random RoIs out of 20"
