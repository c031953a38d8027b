"""mrcnn.data.images: every kind of image becomes uint8 [H, W, C]."""
import os

import numpy as np
import pytest
import skimage.io
from PIL import Image

from mrcnn.data.images import read_image, to_model_image


def test_8_bit_rgb_passes_unchanged_and_matches_skimage(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert to_model_image(rgb) is rgb
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    for name in ("a.jpg", "a.png"):  # matterport read files with skimage.io.imread
        np.testing.assert_array_equal(read_image(tmp_path / name),
                                      skimage.io.imread(tmp_path / name))


def test_channel_conversions():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(to_model_image(gray), np.stack([gray] * 3, -1))
    np.testing.assert_array_equal(to_model_image(gray[..., None]), np.stack([gray] * 3, -1))
    np.testing.assert_array_equal(to_model_image(np.stack([gray, gray * 0], -1)),
                                  np.stack([gray] * 3, -1))
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 9
    np.testing.assert_array_equal(to_model_image(rgba), rgba[..., :3])
    np.testing.assert_array_equal(to_model_image(gray, channels=1), gray[..., None])
    assert (to_model_image(rgba, channels=1) == 76).all()  # 0.299 * 255
    four = np.ones((3, 4, 4), np.uint8)
    assert to_model_image(four, channels=4) is four
    with pytest.raises(ValueError, match="cube.*3 channels.*takes 4"):
        to_model_image(np.zeros((3, 4, 3), np.uint8), channels=4, name="cube")
    with pytest.raises(ValueError, match="x: empty image"):
        to_model_image(np.zeros((0, 4, 3), np.uint8), name="x")
    with pytest.raises(ValueError, match="shape"):
        to_model_image(np.zeros((2, 3, 4, 3), np.uint8))


def test_depth_conversions():
    assert to_model_image(np.full((2, 2), 65535, np.uint16))[0, 0, 0] == 255
    assert to_model_image(np.full((2, 2), 514, np.uint16))[0, 0, 0] == 2
    assert to_model_image(np.full((2, 2), 200, np.int32))[0, 0, 0] == 200
    assert to_model_image(np.full((2, 2), 2570, np.int32))[0, 0, 0] == 10
    assert to_model_image(np.ones((2, 2), bool))[0, 0, 0] == 255
    assert to_model_image(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 128
    assert to_model_image(np.full((2, 2), 100.4, np.float64))[0, 0, 0] == 100
    with pytest.raises(ValueError, match="im: .*-1 to 0"):
        to_model_image(np.array([[-1, 0]], np.int16), name="im")
    with pytest.raises(ValueError, match="NaN or infinite"):
        to_model_image(np.array([[0.5, np.inf]]))
    with pytest.raises(ValueError, match="expected \\[0, 1\\] or \\[0, 255\\]"):
        to_model_image(np.array([[0.5, 300.0]]))


def test_read_files_of_every_kind(tmp_path):
    palette = Image.new("P", (5, 4))
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.putpixel((1, 2), 1)
    palette.save(tmp_path / "p.png")
    image = read_image(tmp_path / "p.png")
    assert image.shape == (4, 5, 3) and tuple(image[2, 1]) == (10, 200, 30)
    assert not image[0, 0].any()
    Image.fromarray(np.full((4, 5), 51400, np.uint16)).save(tmp_path / "d.png")
    assert (read_image(tmp_path / "d.png") == 200).all()
    Image.fromarray(np.full((4, 5), 0.25, np.float32)).save(tmp_path / "f.tif")
    assert (read_image(tmp_path / "f.tif", channels=1) == 64).all()
    import tifffile
    tifffile.imwrite(tmp_path / "n.tif", np.full((4, 5, 5), 7, np.uint8), photometric="minisblack",
                     planarconfig="contig")
    assert read_image(tmp_path / "n.tif", channels=5).shape == (4, 5, 5)
    with pytest.raises(FileNotFoundError, match="image 9: file not found.*nope.png"):
        read_image(tmp_path / "nope.png", name="image 9")
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read .*bad.jpg"):
        read_image(tmp_path / "bad.jpg")


def _bomb_png(path, width=60000, height=60000, depth=8):
    """A PNG whose header claims width x height pixels (no real data)."""
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("depth", [8, 16])
def test_decompression_bomb_header_is_a_named_error(tmp_path, depth):
    from mrcnn.data.annotations import AnnotationError, image_size
    path = _bomb_png(str(tmp_path / "huge.png"), depth=depth)
    with pytest.raises(ValueError, match=r"image 4: .*huge\.png: the image header claims "
                                         r"60000 x 60000 pixels \(width x height\), over PIL's "
                                         r"decompression-bomb limit.*MAX_IMAGE_PIXELS"):
        read_image(path, name="image 4")
    with pytest.raises(AnnotationError, match=r"huge\.png: .*60000 x 60000"):
        image_size(path)


def _call_with_timeout(function, seconds=20):
    """function()'s result or exception, run in a daemon thread; "blocked"
    when it has not returned after `seconds` (the thread is left behind)."""
    import threading
    out = {}

    def run():
        try:
            out["value"] = function()
        except Exception as e:  # reported to the caller
            out["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return "blocked" if thread.is_alive() else out.get("error", out.get("value"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_named_pipes_and_link_loops_are_refused_without_blocking(tmp_path):
    from mrcnn.data.annotations import image_size
    fifo = str(tmp_path / "pipe.png")
    os.mkfifo(fifo)
    result = _call_with_timeout(lambda: read_image(fifo))
    if result == "blocked":  # unblock the reader so the thread can end
        with open(fifo, "wb"):
            pass
    assert isinstance(result, ValueError), result
    assert "pipe.png is a named pipe (FIFO), not an image file" in str(result)
    assert _call_with_timeout(lambda: image_size(fifo)) is None
    assert "is a folder" in str(_call_with_timeout(lambda: read_image(str(tmp_path))))

    loop = str(tmp_path / "loop.png")
    os.symlink(loop, loop)
    with pytest.raises(OSError, match=r"symbolic link loop: .*loop\.png"):
        read_image(loop)
    broken = str(tmp_path / "broken.png")
    os.symlink(str(tmp_path / "gone.png"), broken)
    with pytest.raises(FileNotFoundError, match=r"broken symbolic link: .*broken\.png points "
                                                r"to .*gone\.png"):
        read_image(broken)
