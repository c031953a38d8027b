"""mrcnn/data/shapes.py: the synthetic shapes dataset and its config."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.data.shapes import ShapesConfig, ShapesDataset


def test_shapes_dataset_is_reproducible_and_consistent():
    a, b, c = ShapesDataset(), ShapesDataset(), ShapesDataset()
    a.load_shapes(20, 128, 128, seed=7)
    b.load_shapes(20, 128, 128, seed=7)
    c.load_shapes(20, 128, 128, seed=8)
    for d in (a, b, c):
        d.prepare()
    assert a.class_names == ["BG", "square", "circle", "triangle"]
    assert [i["shapes"] for i in a.image_info] == [i["shapes"] for i in b.image_info]
    assert [i["shapes"] for i in a.image_info] != [i["shapes"] for i in c.image_info]
    for image_id in a.image_ids:
        image = a.load_image(image_id)
        np.testing.assert_array_equal(image, b.load_image(image_id))
        masks, class_ids = a.load_mask(image_id)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert masks.dtype == bool and masks.shape[:2] == (128, 128)
        assert class_ids.dtype == np.int32 and 1 <= masks.shape[-1] <= 4
        assert set(class_ids) <= {1, 2, 3}
        # Instances do not overlap after occlusion; each shape's pixels carry its colour.
        assert masks.sum(-1).max() <= 1
        for i, (shape, color, _) in enumerate(a.image_info[image_id]["shapes"]):
            assert a.class_names[class_ids[i]] == shape
            if masks[..., i].any():
                np.testing.assert_array_equal(image[masks[..., i]][0], color)


def test_shapes_are_drawn_where_described():
    d = ShapesDataset()
    d.add_class("shapes", 1, "square")
    d.add_class("shapes", 2, "circle")
    d.add_class("shapes", 3, "triangle")
    d.add_image("shapes", 0, None, width=64, height=64, bg_color=np.array([0, 0, 0]),
                shapes=[("square", (255, 0, 0), (20, 30, 5)), ("circle", (0, 255, 0), (45, 45, 8))])
    d.prepare()
    masks, class_ids = d.load_mask(0)
    np.testing.assert_array_equal(class_ids, [1, 2])
    # cv2.rectangle fills (x-s, y-s)..(x+s, y+s) inclusive: rows 25..35, cols 15..25.
    np.testing.assert_array_equal(utils.extract_bboxes(masks)[0], [25, 15, 36, 26])
    assert masks[..., 1].sum() == pytest.approx(np.pi * 8 * 8, rel=0.15)


def test_shapes_config():
    c = ShapesConfig()
    assert c.NUM_CLASSES == 4 and c.IMAGE_MAX_DIM == 128 and c.BATCH_SIZE == 8


def described(shapes, size=64):
    d = ShapesDataset()
    for i, name in enumerate(("square", "circle", "triangle")):
        d.add_class("shapes", i + 1, name)
    d.add_image("shapes", 0, None, width=size, height=size, bg_color=np.array([9, 9, 9]),
                shapes=shapes)
    d.prepare()
    return d


def test_later_shapes_occlude_earlier_ones():
    # Two squares: the second (rows/cols 20..40) covers the first's corner.
    d = described([("square", (255, 0, 0), (20, 20, 10)), ("square", (0, 0, 255), (30, 30, 10))])
    masks, class_ids = d.load_mask(0)
    np.testing.assert_array_equal(class_ids, [1, 1])
    assert masks[..., 1].sum() == 21 * 21
    assert masks[..., 0].sum() == 21 * 21 - 11 * 11              # overlap rows/cols 20..30
    assert not (masks[..., 0] & masks[..., 1]).any()
    image = d.load_image(0)
    np.testing.assert_array_equal(image[25, 25], [0, 0, 255])     # drawn last, on top
    np.testing.assert_array_equal(image[12, 12], [255, 0, 0])
    np.testing.assert_array_equal(image[0, 0], [9, 9, 9])
    assert d.image_reference(0) == d.image_info[0]["shapes"]


def test_triangle_points_up_with_base_at_y_plus_s():
    d = described([("triangle", (0, 255, 0), (32, 32, 10))])
    mask = d.load_mask(0)[0][..., 0]
    rows = np.where(mask.any(axis=1))[0]
    assert rows[0] == 22 and rows[-1] == 42                        # apex y - s, base y + s
    widths = mask.sum(axis=1)[rows]
    assert widths[0] <= 3 and widths[-1] > 20                      # base 2 s / sin 60 = 23.1


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match=r"height >= 80.*got count=3, 64x128"):
        ShapesDataset().load_shapes(3, 64, 128)
    with pytest.raises(ValueError, match="count >= 0"):
        ShapesDataset().load_shapes(-1, 128, 128)
    d = described([("hexagon", (1, 2, 3), (30, 30, 5))])
    with pytest.raises(ValueError, match="unknown shape 'hexagon'"):
        d.load_image(0)


def test_random_images_fit_and_overlap_little():
    """Shapes stay 20 px inside the border with half-sizes 20..height // 4,
    and after NMS no two boxes of an image overlap with IoU above 0.3."""
    d = ShapesDataset()
    d.load_shapes(40, 128, 96, seed=3)
    for info in d.image_info:
        assert 1 <= len(info["shapes"]) <= 4
        boxes = []
        for _, color, (x, y, s) in info["shapes"]:
            assert 20 <= x <= 96 - 21 and 20 <= y <= 128 - 21 and 20 <= s <= 32
            assert all(0 <= c <= 255 for c in color)
            boxes.append([y - s, x - s, y + s, x + s])
        boxes = np.array(boxes, np.float64)
        for i in range(len(boxes)):
            others = np.delete(boxes, i, axis=0)
            if len(others):
                assert utils.compute_iou(boxes[i], others, (boxes[i, 2] - boxes[i, 0]) ** 2,
                                         (others[:, 2] - others[:, 0]) ** 2).max() <= 0.3


def test_without_seed_the_global_random_state_decides():
    import random
    random.seed(11)
    a = ShapesDataset()
    a.load_shapes(5, 128, 128)
    random.seed(11)
    b = ShapesDataset()
    b.load_shapes(5, 128, 128)
    assert [i["shapes"] for i in a.image_info] == [i["shapes"] for i in b.image_info]
