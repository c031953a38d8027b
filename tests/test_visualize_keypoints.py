"""mrcnn.visualize.keypoints: points and skeleton lines, read back from the
canvas."""
import numpy as np
import pytest
from visualize_canvas import (  # noqa: F401  (_close_figures: autouse fixture)
    _close_figures, _is_png, _pixel_at, _render, _square_scene)

import matplotlib.pyplot as plt

from mrcnn import visualize

NAMES = ("top", "left", "right", "center")
SKELETON = (("top", "left"), ("top", "right"))


def _scene():
    image, boxes, masks, class_ids = _square_scene()        # square [30, 70)
    points = np.array([[[50.5, 32.5, 0.9], [32.5, 67.5, 0.8], [67.5, 67.5, 0.05],
                        [50.5, 50.5, 0.0]]], np.float32)
    return image, boxes, masks, class_ids, points


def _draw(points, **kwargs):
    image, boxes, masks, class_ids, _ = _scene()
    fig, ax = plt.subplots(1, figsize=(3, 3), dpi=100)
    visualize.display_keypoints(image, boxes, masks, class_ids, ["BG", "square"], points,
                                ax=ax, show_mask=False, show_bbox=False,
                                colors=[(0.0, 0.0, 1.0)], **kwargs)
    return ax, _render(fig)


def test_points_and_skeleton_are_drawn_where_the_keypoints_are():
    _, _, _, _, points = _scene()
    ax, buf = _draw(points, skeleton=SKELETON, keypoint_names=NAMES, threshold=0.1)
    empty_ax, empty = _draw(np.zeros_like(points), skeleton=SKELETON, keypoint_names=NAMES)
    grey = np.array([128, 128, 128])
    # Above the threshold: a blue dot on top, left; and the top-left line
    # through its middle.
    for x, y in [(50.5, 32.5), (32.5, 67.5), (41.5, 50.0)]:
        got = _pixel_at(ax, buf, x, y)
        assert got[2] > got[0] + 60, (x, y, got)
        np.testing.assert_allclose(_pixel_at(empty_ax, empty, x, y), grey, atol=3)
    # Below the threshold (score 0.05) or unlabelled (0): nothing there, nor
    # on the top-right edge that needs the right point.
    for x, y in [(67.5, 67.5), (50.5, 50.5), (59.0, 50.0)]:
        np.testing.assert_allclose(_pixel_at(ax, buf, x, y), grey, atol=3)
    # Without the threshold the right point and its edge appear.
    ax, buf = _draw(points, skeleton=SKELETON, keypoint_names=NAMES)
    for x, y in [(67.5, 67.5), (59.0, 50.0)]:
        got = _pixel_at(ax, buf, x, y)
        assert got[2] > got[0] + 60, (x, y, got)


def test_skeleton_by_index_and_bad_input_named():
    image, boxes, masks, class_ids, points = _scene()
    ax, buf = _draw(points, skeleton=[(0, 1)])
    got = _pixel_at(ax, buf, 41.5, 50.0)
    assert got[2] > got[0] + 60
    with pytest.raises(ValueError, match="'tail' not in keypoint_names"):
        _draw(points, skeleton=[("top", "tail")], keypoint_names=NAMES)
    with pytest.raises(ValueError, match="indices must be in 0..3"):
        _draw(points, skeleton=[(0, 4)])
    with pytest.raises(ValueError, match=r"keypoints must be \[N, K, 3\] for the 1 boxes"):
        _draw(points[0])


def test_save_path_writes_a_png(tmp_path):
    image, boxes, masks, class_ids, points = _scene()
    path = tmp_path / "k.png"
    visualize.display_keypoints(image, boxes, masks, class_ids, ["BG", "square"], points,
                                skeleton=SKELETON, keypoint_names=NAMES, show_names=True,
                                figsize=(2, 2), save_path=str(path))
    assert _is_png(str(path))
    assert not plt.get_fignums()        # the figure made here is closed


@pytest.mark.parametrize("points", [np.zeros((0, 4, 3), np.float32), [],
                                    np.zeros((0, 0, 3), np.float32)])
def test_an_image_without_detections_draws_with_names_and_skeleton(tmp_path, points):
    # What detect() returns for an image with nothing found: no boxes, and
    # keypoints [0, K, 3] (or an empty list from user code). The names and
    # skeleton of the config still apply; the picture is just the image.
    image, _, _, _, _ = _scene()
    path = tmp_path / "none.png"
    visualize.display_keypoints(image, np.zeros((0, 4), np.int32),
                                np.zeros(image.shape[:2] + (0,), bool), np.zeros((0,), np.int32),
                                ["BG", "square"], points, skeleton=SKELETON,
                                keypoint_names=NAMES, figsize=(2, 2), save_path=str(path))
    assert _is_png(str(path))
    # With instances, the names must match K.
    with pytest.raises(ValueError, match="4 keypoint_names for 5 keypoints"):
        _draw(np.zeros((1, 5, 3), np.float32), keypoint_names=NAMES)
