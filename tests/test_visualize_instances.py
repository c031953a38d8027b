"""mrcnn.visualize.instances: colours, mask blends and instance figures, hand-computed
and read back from the canvas."""
import random
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import patches
from visualize_canvas import (  # noqa: F401  (_close_figures: autouse fixture)
    _close_figures, _is_png, _pixel_at, _render, _square_scene)

from mrcnn import visualize


# ------------------------------------------------------------------ colours ---

@pytest.mark.parametrize("bright, value", [(True, 1.0), (False, 0.7)])
def test_random_colors_distinct_in_range_with_hsv_value(bright, value):
    colors = visualize.random_colors(12, bright=bright)
    assert len(colors) == 12
    assert len(set(colors)) == 12
    for color in colors:
        assert len(color) == 3
        assert all(0.0 <= c <= 1.0 for c in color)
        # full saturation: max channel is the HSV value, min channel is 0
        assert max(color) == pytest.approx(value)
        assert min(color) == pytest.approx(0.0)


def test_random_colors_even_hues_shuffled_with_random_module():
    import colorsys
    expected = {colorsys.hsv_to_rgb(k / 4, 1.0, 1.0) for k in range(4)}
    random.seed(0)
    a = visualize.random_colors(4)
    random.seed(0)
    b = visualize.random_colors(4)
    assert set(a) == expected
    assert a == b  # order comes from the `random` module's state
    assert visualize.random_colors(0) == []


# --------------------------------------------------------------- apply_mask ---

def test_apply_mask_changes_exactly_masked_pixels_float():
    image = np.full((4, 5, 3), 100.0)
    image[0, 0] = (10.0, 20.0, 30.0)
    mask = np.zeros((4, 5), dtype=bool)
    mask[1:3, 2:4] = True
    mask[0, 0] = True
    color = (1.0, 0.5, 0.0)
    before = image.copy()

    out = visualize.apply_mask(image, mask, color, alpha=0.25)

    assert out is image
    np.testing.assert_array_equal(out[~mask], before[~mask])
    # 100 * 0.75 + 0.25 * c * 255
    np.testing.assert_allclose(out[1:3, 2:4], np.broadcast_to([138.75, 106.875, 75.0], (2, 2, 3)))
    np.testing.assert_allclose(out[0, 0], [7.5 + 63.75, 15.0 + 31.875, 22.5])


def test_apply_mask_uint8_truncates_and_uses_mask_eq_1():
    image = np.full((3, 3, 3), 128, dtype=np.uint8)
    mask = np.array([[1, 0, 2], [0, 1, 0], [0, 0, 0]], dtype=np.uint8)
    visualize.apply_mask(image, mask, (1.0, 0.0, 0.0))  # alpha 0.5
    # 128 * 0.5 + 127.5 = 191.5 -> 191 ; 128 * 0.5 = 64
    np.testing.assert_array_equal(image[0, 0], [191, 64, 64])
    np.testing.assert_array_equal(image[1, 1], [191, 64, 64])
    np.testing.assert_array_equal(image[0, 2], [128, 128, 128])  # mask value 2 != 1
    assert image.dtype == np.uint8
    assert (image[mask != 1] == 128).all()


# -------------------------------------------------------- display_instances ---

def test_display_instances_pixels_on_canvas():
    image, boxes, masks, class_ids = _square_scene()
    original = image.copy()
    fig, ax = plt.subplots(1, figsize=(2, 2), dpi=100)

    returned = visualize.display_instances(
        image, boxes, masks, class_ids, ["BG", "square"],
        scores=np.array([0.95]), colors=[(1.0, 0.0, 0.0)], ax=ax)

    assert returned is ax
    np.testing.assert_array_equal(image, original)  # input left alone
    buf = _render(fig)
    # Inside the mask: grey blended halfway toward red (191, 64, 64).
    inside = _pixel_at(ax, buf, 50, 55)
    np.testing.assert_allclose(inside, [191, 64, 64], atol=3)
    # Far from the instance: the image's grey.
    for x, y in [(8, 8), (90, 10), (10, 90), (92, 92)]:
        np.testing.assert_allclose(_pixel_at(ax, buf, x, y), [128, 128, 128], atol=3)
    # Margin outside the image (limits extend 10 px): figure background.
    np.testing.assert_allclose(_pixel_at(ax, buf, -6, 50), [255, 255, 255], atol=3)


def test_display_instances_artists_limits_caption_outline():
    image, boxes, masks, class_ids = _square_scene()
    fig, ax = plt.subplots(1, figsize=(2, 2), dpi=50)
    visualize.display_instances(
        image, boxes, masks, class_ids, ["BG", "square"],
        scores=[0.95], title="one square", colors=[(1.0, 0.0, 0.0)], ax=ax)

    assert ax.get_ylim() == (110, -10)
    assert ax.get_xlim() == (-10, 110)
    assert not ax.axison
    assert ax.get_title() == "one square"
    assert [t.get_text() for t in ax.texts] == ["square 0.950"]
    assert ax.texts[0].get_position() == (30, 38)

    rects = [p for p in ax.patches if isinstance(p, patches.Rectangle)]
    polys = [p for p in ax.patches if isinstance(p, patches.Polygon)]
    assert len(rects) == 1 and len(polys) == 1
    r = rects[0]
    assert (r.get_x(), r.get_y(), r.get_width(), r.get_height()) == (30, 30, 40, 40)
    assert r.get_linestyle() in ("--", "dashed")
    assert r.get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    # Outline in (x, y) image coordinates hugging the mask's pixel edges.
    xy = polys[0].get_xy()
    np.testing.assert_allclose(xy.min(axis=0), [29.5, 29.5])
    np.testing.assert_allclose(xy.max(axis=0), [69.5, 69.5])

    shown = ax.images[0].get_array()
    assert shown.dtype == np.uint8
    np.testing.assert_array_equal(shown[50, 50], [191, 64, 64])
    np.testing.assert_array_equal(shown[5, 5], [128, 128, 128])


def test_display_instances_outline_closed_at_border_and_captions_override():
    image = np.full((20, 20, 3), 50, dtype=np.uint8)
    masks = np.zeros((20, 20, 2), dtype=bool)
    masks[0:5, 0:5, 0] = True          # touches the top-left corner
    masks[10:15, 10:15, 1] = True
    boxes = np.array([[0, 0, 5, 5], [10, 10, 15, 15]])
    fig, ax = plt.subplots(1, figsize=(1, 1), dpi=30)
    visualize.display_instances(
        image, boxes, masks, np.array([1, 2]), ["BG", "a", "b"],
        captions=["first", "second"], show_bbox=False, show_mask=False,
        colors=[(0, 1, 0), (0, 0, 1)], ax=ax)

    assert [t.get_text() for t in ax.texts] == ["first", "second"]
    assert not any(isinstance(p, patches.Rectangle) for p in ax.patches)
    polys = [p for p in ax.patches if isinstance(p, patches.Polygon)]
    assert len(polys) == 2
    xy = polys[0].get_xy()
    np.testing.assert_allclose(xy.min(axis=0), [-0.5, -0.5])
    np.testing.assert_allclose(xy.max(axis=0), [4.5, 4.5])
    np.testing.assert_allclose(xy[0], xy[-1])  # closed thanks to the padding
    # show_mask=False: image unchanged
    np.testing.assert_array_equal(ax.images[0].get_array(), image)


def test_display_instances_skips_all_zero_box_and_label_without_scores():
    image, boxes, masks, class_ids = _square_scene(size=40, lo=10, hi=20)
    boxes = np.concatenate([boxes, np.zeros((1, 4), dtype=np.int32)])
    masks = np.concatenate([masks, np.ones((40, 40, 1), dtype=bool)], axis=-1)
    class_ids = np.array([1, 1])
    fig, ax = plt.subplots(1, figsize=(1, 1), dpi=30)
    visualize.display_instances(image, boxes, masks, class_ids, ["BG", "thing"],
                                colors=[(1, 0, 0), (0, 0, 1)], ax=ax)
    assert [t.get_text() for t in ax.texts] == ["thing"]
    shown = ax.images[0].get_array()
    np.testing.assert_array_equal(shown[0, 0], [128, 128, 128])  # 2nd mask not blended


def test_display_instances_save_path_writes_png_and_closes(tmp_path):
    image, boxes, masks, class_ids = _square_scene(size=32, lo=8, hi=16)
    path = tmp_path / "inst.png"
    n_figs = len(plt.get_fignums())
    ax = visualize.display_instances(image, boxes, masks, class_ids, ["BG", "sq"],
                                     figsize=(1, 1), save_path=str(path))
    assert path.is_file() and _is_png(path)
    assert len(plt.get_fignums()) == n_figs  # figure it created is closed
    assert len(ax.images) == 1


def test_display_instances_save_path_with_given_ax_keeps_figure(tmp_path):
    image, boxes, masks, class_ids = _square_scene(size=32, lo=8, hi=16)
    fig, ax = plt.subplots(1, figsize=(1, 1), dpi=30)
    path = tmp_path / "given.png"
    visualize.display_instances(image, boxes, masks, class_ids, ["BG", "sq"],
                                ax=ax, save_path=path)
    assert _is_png(path)
    assert plt.fignum_exists(fig.number)


def test_display_instances_without_ax_or_save_path_returns_new_axes():
    image, boxes, masks, class_ids = _square_scene(size=16, lo=4, hi=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Agg's "cannot be shown" on plt.show()
        ax = visualize.display_instances(image, boxes, masks, class_ids,
                                         ["BG", "sq"], figsize=(1.5, 2))
    assert tuple(ax.figure.get_size_inches()) == (1.5, 2)


@pytest.mark.parametrize("n_boxes, n_masks, n_ids", [(2, 1, 1), (1, 2, 1), (1, 1, 2), (0, 1, 0)])
def test_display_instances_mismatched_counts_raise(n_boxes, n_masks, n_ids):
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    fig, ax = plt.subplots(1, figsize=(1, 1), dpi=20)
    with pytest.raises(ValueError) as err:
        visualize.display_instances(
            image, np.ones((n_boxes, 4)), np.ones((8, 8, n_masks), dtype=bool),
            np.ones(n_ids, dtype=int), ["BG", "x"], ax=ax)
    message = str(err.value)
    assert "{} boxes".format(n_boxes) in message
    assert "{} masks".format(n_masks) in message
    assert "{} class_ids".format(n_ids) in message


def test_display_instances_zero_instances(capsys, tmp_path):
    image = np.full((10, 12, 3), 77, dtype=np.uint8)
    fig, ax = plt.subplots(1, figsize=(1, 1), dpi=20)
    visualize.display_instances(image, np.zeros((0, 4)), np.zeros((10, 12, 0), dtype=bool),
                                np.zeros((0,), dtype=int), ["BG"], ax=ax)
    assert "*** No instances to display ***" in capsys.readouterr().out
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), image)
    assert not ax.patches and not ax.texts

    # matterport accepted missing masks / class_ids when there is nothing to draw
    path = tmp_path / "empty.png"
    visualize.display_instances(image, np.zeros((0, 4)), None, None, ["BG"],
                                figsize=(1, 1), save_path=path)
    assert _is_png(path)


# ----------------------------------------------------------- display_images ---

def test_display_images_grid_and_file(tmp_path):
    images = [np.full((6, 6, 3), 40 * k, dtype=np.float64) for k in range(5)]
    images.append(np.arange(36, dtype=np.float64).reshape(6, 6))  # grayscale
    path = tmp_path / "grid.png"
    fig = visualize.display_images(images, titles=list("abcdef"), cols=4,
                                   cmap="gray", save_path=str(path))
    assert _is_png(path)
    assert len(fig.axes) == 6
    assert [a.get_title() for a in fig.axes] == list("abcdef")
    assert all(not a.axison for a in fig.axes)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 4)
    for a, img in zip(fig.axes, images):
        arr = a.images[0].get_array()
        assert arr.dtype == np.uint8
        np.testing.assert_array_equal(arr, img.astype(np.uint8))


def test_display_images_default_titles(tmp_path):
    fig = visualize.display_images([np.zeros((4, 4, 3))] * 2, cols=2,
                                   save_path=tmp_path / "two.png")
    assert [a.get_title() for a in fig.axes] == ["", ""]


# -------------------------------------------------------- display_top_masks ---

def test_display_top_masks_panels_by_area(tmp_path):
    image = np.full((40, 40, 3), 90, np.uint8)
    masks = np.zeros((40, 40, 3), bool)
    masks[0:10, 0:10, 0] = True      # class 1, area 100
    masks[20:40, 20:40, 1] = True    # class 2, area 400
    masks[0:5, 30:35, 2] = True      # class 2, area 25
    fig = visualize.display_top_masks(image, masks, np.array([1, 2, 2]),
                                      ["BG", "one", "two"], limit=3,
                                      save_path=str(tmp_path / "top.png"))
    assert [a.get_title() for a in fig.axes] == ["H x W=40x40", "two", "one", "-"]
    two = fig.axes[1].images[0].get_array()
    assert two[30, 30] == 1 and two[2, 32] == 2 and two[5, 5] == 0
    one = fig.axes[2].images[0].get_array()
    assert one[5, 5] == 1 and one.sum() == 100
    assert fig.axes[3].images[0].get_array().max() == 0
