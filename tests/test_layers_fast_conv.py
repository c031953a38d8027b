"""The fast convolutions WindowConv2D and SparseGradConv2D (imported from
mrcnn.heads, where they stay importable) against KL.Conv2D / tf.nn.conv2d."""

import numpy as np
import pytest
import tensorflow as tf


def test_window_conv_equals_conv2d():
    """The box head's 7x7 / 1x1 "FC" convs as a matmul: same outputs and
    gradients as KL.Conv2D with the same weights."""
    import keras
    import tensorflow as tf

    from mrcnn.heads import WindowConv2D
    rng = np.random.default_rng(0)
    for kernel, shape in (((7, 7), (5, 7, 7, 16)), ((1, 1), (4, 1, 1, 8)),
                          ((3, 3), (2, 6, 6, 4))):  # the last: not a window, plain conv
        x = tf.constant(rng.normal(size=shape).astype(np.float32))
        conv = keras.layers.Conv2D(12, kernel, padding="valid", activation="relu")
        window = WindowConv2D(12, kernel, padding="valid", activation="relu")
        conv.build(shape)
        window.build(shape)
        window.set_weights(conv.get_weights())
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            a, b = conv(x), window(x)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
        for ga, gb in zip(tape.gradient(a, [x, conv.kernel]), tape.gradient(b, [x, window.kernel])):
            np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel,shape", [((3, 3), (2, 7, 5, 6)), ((5, 5), (1, 6, 9, 3)),
                                          ((1, 1), (2, 4, 4, 5)), ((3, 1), (1, 5, 6, 4))])
@pytest.mark.parametrize("density", [0.0, 0.08, 0.6, 1.0])
@pytest.mark.parametrize("path", ["sparse", "dense"])
def test_sparse_grad_conv_gradients_equal_conv2d(kernel, shape, density, path):
    """rpn_conv_shared's backward pass that works only where the gradient is
    non-zero: the same input, kernel and bias gradients as TF's dense
    convolution kernels, whichever path (sparse gather/scatter or dense) it
    takes, for gradients that are empty, sparse, half and fully dense."""
    from mrcnn.heads import _conv_relu_sparse_grad
    rng = np.random.default_rng(int(density * 10) + kernel[0] + shape[1])
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    k = tf.constant(rng.normal(size=kernel + (shape[-1], 8)).astype(np.float32) * 0.3)
    b = tf.constant(rng.normal(size=8).astype(np.float32) * 0.1)
    where = rng.random(shape[:3] + (1,)) < density
    dy = tf.constant((rng.normal(size=shape[:3] + (8,)) * where).astype(np.float32))
    fraction = 1.0 if path == "sparse" else -1.0

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k, b])
        ref = tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME") + b)
        out = _conv_relu_sparse_grad(x, k, b, fraction)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    want = tape.gradient(ref, [x, k, b], output_gradients=dy)
    got = tape.gradient(out, [x, k, b], output_gradients=dy)
    assert (out.numpy() > 0).any() and (out.numpy() == 0).any()   # ReLU active and not
    for name, w, g in zip("xkb", want, got):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
        if density == 0.0:
            assert not np.any(g.numpy())


def test_sparse_grad_conv_layer_is_a_conv2d():
    """SparseGradConv2D: KL.Conv2D's weights and outputs, in training and at
    inference, and its class still reads "Conv2D" (matterport notebooks
    filter layers by class name); configurations it does not cover (here a
    stride of 2) fall back to KL.Conv2D, gradients included."""
    import keras

    from mrcnn.heads import SparseGradConv2D
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 8, 8, 4)).astype(np.float32))
    for kwargs in ({}, {"strides": 2}):
        conv = keras.layers.Conv2D(6, 3, padding="same", activation="relu", **kwargs)
        sparse = SparseGradConv2D(6, 3, padding="same", activation="relu", **kwargs)
        conv.build(x.shape)
        sparse.build(x.shape)
        sparse.set_weights(conv.get_weights())
        assert [w.shape for w in sparse.weights] == [w.shape for w in conv.weights]
        for training in (False, True):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                a, b = conv(x, training=training), sparse(x, training=training)
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)
            dy = tf.constant(rng.normal(size=a.shape).astype(np.float32))
            ga = tape.gradient(a, [x, conv.kernel, conv.bias], output_gradients=dy)
            gb = tape.gradient(b, [x, sparse.kernel, sparse.bias], output_gradients=dy)
            for u, v in zip(ga, gb):
                np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=1e-5, atol=1e-5)
    assert type(sparse).__name__ == "Conv2D"
