"""Image/mask resizing and mask helpers of mrcnn.utils."""
import random

import numpy as np
import pytest

from mrcnn import utils


def test_resize_image_square_hand_computed():
    image = np.full((50, 100, 3), 200, np.uint8)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=64, max_dim=128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert scale == pytest.approx(1.28)
    assert window == (32, 0, 96, 128)
    assert padding == [(32, 32), (0, 0), (0, 0)]
    assert crop is None
    assert (out[32:96] == 200).all() and (out[:32] == 0).all() and (out[96:] == 0).all()


def test_resize_image_square_long_side_limits_scale():
    image = np.zeros((40, 100, 3), np.uint8)
    out, window, scale, padding, _ = utils.resize_image(image, min_dim=100, max_dim=128)
    # min_dim asks for x2.5, the long side would be 250 > 128: scale = 1.28.
    assert scale == pytest.approx(1.28)
    # 40x100 -> 51x128 (round(51.2)); top pad (128 - 51) // 2 = 38.
    assert window == (38, 0, 89, 128)
    assert out.shape == (128, 128, 3)


def test_resize_image_never_scales_down_for_min_dim_and_min_scale():
    image = np.zeros((300, 200, 3), np.uint8)
    out, window, scale, _, _ = utils.resize_image(image, min_dim=64, max_dim=512)
    assert scale == 1 and window == (106, 156, 406, 356) and out.shape == (512, 512, 3)
    out, window, scale, _, _ = utils.resize_image(np.zeros((40, 40, 3), np.uint8),
                                                  min_dim=None, max_dim=128, min_scale=2)
    assert scale == 2 and window == (24, 24, 104, 104)


def test_resize_image_pad64():
    image = np.ones((70, 130, 3), np.uint8)
    out, window, scale, padding, _ = utils.resize_image(image, min_dim=64, mode="pad64")
    assert scale == 1
    assert out.shape == (128, 192, 3)
    assert padding == [(29, 29), (31, 31), (0, 0)]
    assert window == (29, 31, 99, 161)


def test_resize_image_crop_and_none():
    image = np.arange(100 * 120 * 3, dtype=np.int64).reshape(100, 120, 3).astype(np.float32)
    random.seed(0)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=64, mode="crop")
    y, x, h, w = crop
    assert (h, w) == (64, 64) and window == (0, 0, 64, 64)
    np.testing.assert_array_equal(out, image[y:y + 64, x:x + 64])
    out, window, scale, padding, crop = utils.resize_image(image, mode="none")
    assert out is image and window == (0, 0, 100, 120) and scale == 1 and crop is None


def test_resize_image_bilinear_truncates_like_matterport():
    # 2x2 -> 4x4 bilinear of a ramp; values are cast back to uint8 by truncation.
    image = np.array([[0, 100], [100, 200]], np.uint8)[..., None].repeat(3, 2)
    out, _, scale, _, _ = utils.resize_image(image, min_dim=4, max_dim=4)
    assert scale == 2 and out.dtype == np.uint8
    expected = utils.resize(image.astype(np.float64), (4, 4), preserve_range=True).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    # Pixel (1, 1) samples input (0.25, 0.25): 0.75*0.25*100*2 + 0.25*0.25*200 = 50.
    # Pixel (3, 3) samples (1.25, 1.25), outside: 0.5625*200 = 112.5 -> 112.
    assert out[0, 0, 0] == 0 and out[1, 1, 0] == 50 and out[3, 3, 0] == 112


def test_resize_image_errors():
    with pytest.raises(ValueError, match="mode"):
        utils.resize_image(np.zeros((10, 10, 3)), mode="bogus")
    with pytest.raises(ValueError, match="multiple of 64"):
        utils.resize_image(np.zeros((10, 10, 3)), min_dim=100, mode="pad64")
    with pytest.raises(ValueError, match="shape"):
        utils.resize_image(np.zeros((0, 10, 3)), max_dim=64)


def test_resize_mask_follows_resize_image():
    image = np.zeros((50, 100, 3), np.uint8)
    mask = np.zeros((50, 100, 1), bool)
    mask[10:20, 30:40] = True
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=100, max_dim=256)
    m = utils.resize_mask(mask, scale, padding, crop)
    assert m.shape == (256, 256, 1) and m.dtype == bool
    ys, xs = np.where(m[..., 0])
    # Box (10, 30)-(20, 40) scaled by 2, shifted by the padding (78 top, 28 left).
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (78 + 20, 78 + 40, 28 + 60, 28 + 80)


def test_minimize_expand_mask_round_trip_of_rectangles():
    mask = np.zeros((64, 64, 2), bool)
    mask[5:25, 10:50, 0] = True
    mask[30:60, 30:34, 1] = True
    boxes = utils.extract_bboxes(mask)
    mini = utils.minimize_mask(boxes, mask, (56, 56))
    assert mini.shape == (56, 56, 2) and mini.dtype == bool and mini.all()
    back = utils.expand_mask(boxes, mini, (64, 64, 3))
    np.testing.assert_array_equal(back, mask)


def test_minimize_mask_empty_box_error():
    with pytest.raises(ValueError, match="instance 0"):
        utils.minimize_mask(np.array([[3, 3, 3, 8]]), np.ones((10, 10, 1), bool), (8, 8))


def test_unmold_mask_thresholds_and_places():
    mask = np.zeros((28, 28), np.float32)
    mask[:, :14] = 0.9
    full = utils.unmold_mask(mask, np.array([10, 20, 20, 40]), (50, 60, 3))
    assert full.shape == (50, 60) and full.dtype == bool
    assert full[10:20, 20:30].all()
    assert not full[10:20, 31:40].any()
    assert not full[:10].any() and not full[20:].any()
    assert not utils.unmold_mask(np.full((28, 28), 0.49), [0, 0, 5, 5], (8, 8)).any()
    assert utils.unmold_mask(np.full((28, 28), 0.5), [0, 0, 5, 5], (8, 8))[:5, :5].all()


def test_resize_image_pad64_without_min_dim_only_pads():
    out, window, scale, padding, _ = utils.resize_image(np.ones((70, 130, 3), np.uint8),
                                                        mode="pad64")
    assert scale == 1 and out.shape == (128, 192, 3) and window == (29, 31, 99, 161)
    out, _, scale, _, _ = utils.resize_image(np.ones((40, 40, 3), np.uint8), mode="pad64",
                                             min_scale=2)
    assert scale == 2 and out.shape == (128, 128, 3)


def test_expand_mask_accepts_uint8_mini_masks():
    mask = np.zeros((39, 40, 1), bool)
    mask[3:30, 5:35] = True
    boxes = utils.extract_bboxes(mask)
    mini = utils.minimize_mask(boxes, mask, (28, 28)).astype(np.uint8)
    np.testing.assert_array_equal(utils.expand_mask(boxes, mini, (39, 40)), mask)
