"""mrcnn.visualize.panoptic: display_panoptic, read back from the canvas."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import patches
from visualize_canvas import _close_figures, _is_png, _pixel_at, _render  # noqa: F401

from mrcnn import visualize
from mrcnn.panoptic import fuse
from mrcnn.visualize.panoptic import display_panoptic, stuff_color

CLASS_NAMES = ["BG", "square", "circle", "sky", "grass"]


def _scene(size=100):
    """Grey image: sky (class 3) on top, grass (4) below, one square (1) in the
    middle, a void strip on the right."""
    image = np.full((size, size, 3), 128, np.uint8)
    pan = np.zeros((size, size), np.int32)
    pan[:50] = 2
    pan[50:] = 3
    pan[30:70, 30:70] = 1
    pan[:, 90:] = 0
    segments = [{"id": 1, "category_id": 1, "isthing": 1, "area": 1600, "score": 0.987},
                {"id": 2, "category_id": 3, "isthing": 0, "area": 0, "score": None},
                {"id": 3, "category_id": 4, "isthing": 0, "area": 0, "score": None}]
    return image, pan, segments


def _blend(grey, color, alpha):
    return [grey * (1 - alpha) + alpha * c * 255 for c in color]


def test_stuff_flat_colours_things_as_instances_void_untouched():
    image, pan, segments = _scene()
    fig, ax = plt.subplots(1, figsize=(4, 4), dpi=50)
    out = display_panoptic(image, pan, segments, CLASS_NAMES, ax=ax,
                           colors={1: (1.0, 0.0, 0.0)}, stuff_alpha=0.5)
    assert out is ax
    buf = _render(fig)
    # stuff: the image blended halfway toward its class colour, the same all over
    for x, y in [(10, 10), (20, 40), (80, 20)]:
        np.testing.assert_allclose(_pixel_at(ax, buf, x, y), _blend(128, stuff_color(3), 0.5),
                                   atol=3)
    for x, y in [(10, 90), (80, 80)]:
        np.testing.assert_allclose(_pixel_at(ax, buf, x, y), _blend(128, stuff_color(4), 0.5),
                                   atol=3)
    # the thing: display_instances' mask blend (alpha 0.5) toward its colour
    np.testing.assert_allclose(_pixel_at(ax, buf, 50, 55), [191, 64, 64], atol=3)
    # void: the image itself
    np.testing.assert_allclose(_pixel_at(ax, buf, 95, 50), [128, 128, 128], atol=3)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["square 0.987", "sky", "grass"]
    boxes = [p for p in ax.patches if isinstance(p, patches.Rectangle)]
    assert len(boxes) == 1 and boxes[0].get_xy() == (30, 30)
    assert boxes[0].get_width() == 40 and boxes[0].get_height() == 40
    outlines = [p for p in ax.patches if isinstance(p, patches.Polygon)]
    assert len(outlines) == 1  # things are outlined, stuff is not
    np.testing.assert_array_equal(image, 128)  # the input is not modified


def test_stuff_colour_is_fixed_per_class_and_alpha_applies():
    assert stuff_color(3) == stuff_color(3) and stuff_color(3) != stuff_color(4)
    image, pan, segments = _scene()
    fig, ax = plt.subplots(1, figsize=(4, 4), dpi=50)
    display_panoptic(image, pan, segments, CLASS_NAMES, ax=ax, stuff_alpha=1.0,
                     show_bbox=False, show_stuff_labels=False)
    buf = _render(fig)
    np.testing.assert_allclose(_pixel_at(ax, buf, 10, 10),
                               [int(c * 255) for c in stuff_color(3)], atol=3)
    assert [t.get_text() for t in ax.texts] == ["square 0.987"]
    assert not [p for p in ax.patches if isinstance(p, patches.Rectangle)]


def test_stuff_only_image_and_save_path(tmp_path, capsys):
    image, pan, segments = _scene()
    pan[pan == 1] = 2
    path = tmp_path / "panoptic.png"
    ax = display_panoptic(image, pan, segments[1:], CLASS_NAMES, title="stuff only",
                          figsize=(3, 3), save_path=str(path))
    assert _is_png(str(path)) and path.stat().st_size > 1000
    assert ax.get_title() == "stuff only"
    assert not plt.fignum_exists(ax.figure.number)  # created here, closed after saving
    assert "No instances" not in capsys.readouterr().out


def test_draws_fuse_output():
    shape = (64, 64)
    masks = np.zeros(shape + (2,), bool)
    masks[5:20, 5:20, 0] = True
    masks[30:50, 30:60, 1] = True
    semantic = np.full(shape, 3, np.int32)
    semantic[40:] = 4
    pan, segments = fuse(masks, [1, 2], [0.9, 0.8], semantic, [3, 4], stuff_area_limit=10)
    fig, ax = plt.subplots(1, figsize=(3, 3), dpi=50)
    visualize.display_panoptic(np.zeros(shape + (3,), np.uint8), pan, segments, CLASS_NAMES,
                               ax=ax)
    assert sorted(t.get_text() for t in ax.texts) == ["circle 0.800", "grass", "sky",
                                                      "square 0.900"]


def test_bad_input_is_named():
    image, pan, segments = _scene()
    with pytest.raises(ValueError, match=r"segment id\(s\) \[3\] are in the map but not in "
                                         r"segments"):
        display_panoptic(image, pan, segments[:2], CLASS_NAMES)
    with pytest.raises(ValueError, match=r"panoptic is \(100, 90\) but the image is 100x100"):
        display_panoptic(image, pan[:, :90], segments, CLASS_NAMES)
    with pytest.raises(ValueError, match=r"segment 3 has category_id 4, not an index of "
                                         r"class_names \(4 names\)"):
        display_panoptic(image, pan, segments, CLASS_NAMES[:4])
    with pytest.raises(ValueError, match=r"has no 'isthing'"):
        display_panoptic(image, pan, [{"id": 1, "category_id": 1}], CLASS_NAMES)
