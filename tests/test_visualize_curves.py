"""mrcnn.visualize.curves: training curves from TensorBoard event files written here."""
import numpy as np
import pytest
from visualize_canvas import _close_figures, _render  # noqa: F401  (autouse fixture)

from mrcnn import visualize


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
