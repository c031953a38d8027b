"""mrcnn.visualize: hand-computed blends and what actually lands on the canvas."""
import os
import random
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import patches  # noqa: E402

from mrcnn import visualize  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _square_scene(size=100, lo=30, hi=70, grey=128):
    """Flat grey image with one square instance covering [lo, hi)."""
    image = np.full((size, size, 3), grey, dtype=np.uint8)
    masks = np.zeros((size, size, 1), dtype=bool)
    masks[lo:hi, lo:hi, 0] = True
    boxes = np.array([[lo, lo, hi, hi]], dtype=np.int32)
    class_ids = np.array([1], dtype=np.int32)
    return image, boxes, masks, class_ids


def _render(fig):
    if not hasattr(fig.canvas, "buffer_rgba"):  # closed by save_path: attach a canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def _pixel_at(ax, buf, x, y):
    """RGB of the canvas pixel under data point (x, y)."""
    dx, dy = ax.transData.transform((x, y))
    row = buf.shape[0] - 1 - int(dy)
    return buf[row, int(dx)]


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


# ---------------------------------------------------------------- colours ---

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


# ------------------------------------------------------------ apply_mask ---

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


# ----------------------------------------------------- display_instances ---

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


# -------------------------------------------------------- display_images ---

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


# -------------------------------------------------------------- draw_box ---

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


# ------------------------------------------------------- backend choice ---

def _backend_after_import(env_update, drop=("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import mrcnn.visualize, matplotlib, sys; "
            "sys.stdout.write(matplotlib.get_backend().lower())")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux display check")
def test_headless_import_selects_agg_and_honours_mplbackend():
    assert _backend_after_import({}) == "agg"
    assert _backend_after_import({"MPLBACKEND": "svg"}) == "svg"


@pytest.mark.parametrize("platform, env, pyplot_loaded, expect_agg", [
    ("linux", {}, False, True),
    ("linux", {"DISPLAY": ":0"}, False, False),
    ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False, False),
    ("linux", {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}, False, False),
    ("linux", {}, True, False),
    ("darwin", {}, False, False),
])
def test_select_headless_backend_decision(monkeypatch, platform, env, pyplot_loaded, expect_agg):
    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(sys, "platform", platform)
    for key in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not pyplot_loaded:
        monkeypatch.delitem(sys.modules, "matplotlib.pyplot")
    visualize._select_headless_backend()
    assert calls == ([("Agg",)] if expect_agg else [])


# ------------------------------------------------- matterport's debugging set ---

def _two_square_scene(size=100):
    """Grey image, ground truth squares at [20,45) and [60,85); one prediction
    exactly on the first, one off in an empty corner."""
    image = np.full((size, size, 3), 128, dtype=np.uint8)
    gt_masks = np.zeros((size, size, 2), bool)
    gt_masks[20:45, 20:45, 0] = True
    gt_masks[60:85, 60:85, 1] = True
    gt_boxes = np.array([[20, 20, 45, 45], [60, 60, 85, 85]])
    pred_masks = np.zeros((size, size, 2), bool)
    pred_masks[20:45, 20:45, 0] = True
    pred_masks[5:15, 75:95, 1] = True
    pred_boxes = np.array([[20, 20, 45, 45], [5, 75, 15, 95]])
    return image, gt_boxes, np.array([1, 1]), gt_masks, pred_boxes, pred_masks


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


def test_display_table_text_outside_notebook(capsys):
    html = visualize.display_table([["NAME", "VALUE"], ["a<span>!</span>", 1.5]])
    out = capsys.readouterr().out.splitlines()
    assert out == ["NAME  VALUE", "a!    1.5"]
    assert html.startswith("<table><tr><td>NAME") and "<span>!</span>" in html


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


def test_training_curves_from_tensorboard_logs(tmp_path):
    import tensorflow as tf
    for run, losses in [("train", [3.0, 2.0, 1.5]), ("validation", [3.5, 2.5, 2.2])]:
        writer = tf.summary.create_file_writer(str(tmp_path / run))
        with writer.as_default():
            for epoch, loss in enumerate(losses):
                tf.summary.scalar("epoch_loss", loss, step=epoch)
                tf.summary.scalar("epoch_mrcnn_mask_loss", loss / 3, step=epoch)
                tf.summary.scalar("epoch_learning_rate", 0.01, step=epoch)
        writer.close()
    scalars = visualize.read_tensorboard_scalars(str(tmp_path))
    assert sorted(scalars) == ["train", "validation"]
    assert [v for _, v in scalars["train"]["epoch_loss"]] == pytest.approx([3.0, 2.0, 1.5])
    fig = visualize.plot_training_curves(str(tmp_path), save_path=str(tmp_path / "c.png"))
    assert [a.get_title() for a in fig.axes] == ["loss", "mrcnn_mask_loss"]
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [3.5, 2.5, 2.2])
    buf = _render(fig)
    assert buf.std() > 10
    with pytest.raises(FileNotFoundError):
        visualize.read_tensorboard_scalars(str(tmp_path / "nothing"))
