"""What the tests of mrcnn.visualize share: the Agg backend, closing figures
after each test, small scenes and reading pixels back from the canvas.

Import it before pyplot: `from visualize_canvas import ...` (pytest puts
tests/ on sys.path). The autouse fixture applies to the modules that import
it.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
