"""mrcnn.layers.norm.GroupNorm against keras.layers.GroupNormalization and a
float64 NumPy reference."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers.norm import GroupNorm


def _reference(x, groups, gamma, beta, eps):
    """Group norm in float64: statistics over (H, W, C / groups)."""
    b, h, w, c = x.shape
    g = x.astype(np.float64).reshape(b, h, w, groups, c // groups)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(b, h, w, c) * gamma + beta


def _pair(groups, channels, rng, **kwargs):
    keras_gn = keras.layers.GroupNormalization(groups, epsilon=1e-5, **kwargs)
    ours = GroupNorm(groups, epsilon=1e-5, **kwargs)
    for layer in (keras_gn, ours):
        layer.build((None, None, None, channels))
    weights = [rng.normal(size=channels).astype(np.float32) for _ in keras_gn.weights]
    keras_gn.set_weights(weights)
    ours.set_weights(weights)
    return keras_gn, ours, weights


@pytest.mark.parametrize("groups,channels", [(4, 16), (1, 8), (8, 8), (32, 128)])
def test_group_norm_equals_keras_and_float64(groups, channels):
    rng = np.random.default_rng(groups)
    x = (rng.normal(size=(2, 9, 13, channels)) * 3 + 2).astype(np.float32)
    keras_gn, ours, (gamma, beta) = _pair(groups, channels, rng)
    want = _reference(x, groups, gamma, beta, 1e-5)
    got = ours(x).numpy()
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(got, keras_gn(x).numpy(), atol=1e-4)


def test_gradients_equal_keras():
    rng = np.random.default_rng(0)
    x = tf.constant((rng.normal(size=(2, 8, 6, 16)) * 2).astype(np.float32))
    keras_gn, ours, _ = _pair(4, 16, rng)

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(layer(x)) * tf.range(16, dtype=tf.float32))
        return tape.gradient(loss, [x] + layer.trainable_weights)

    for want, got in zip(grads(keras_gn), grads(ours)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def test_unknown_sizes_no_scale_or_center_and_config_round_trip():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 5, 7, 8)).astype(np.float32)
    layer = GroupNorm(2, epsilon=1e-3, scale=False, center=False)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 8], tf.float32)])
    np.testing.assert_allclose(fn(x).numpy(), _reference(x, 2, 1.0, 0.0, 1e-3), atol=2e-5)
    clone = GroupNorm.from_config(layer.get_config())
    assert (clone.groups, clone.epsilon, clone.scale, clone.center) == (2, 1e-3, False, False)
    # Another rank falls back to Keras' own computation.
    seq = rng.normal(size=(2, 6, 8)).astype(np.float32)
    np.testing.assert_allclose(GroupNorm(2, scale=False, center=False)(seq).numpy(),
                               keras.layers.GroupNormalization(2, scale=False, center=False)(
                                   seq).numpy(), atol=1e-5)


def test_mixed_precision_keeps_float32_statistics():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(1, 6, 6, 8)) * 50).astype(np.float32)
    layer = GroupNorm(2, dtype="mixed_bfloat16", scale=False, center=False)
    got = layer(tf.cast(x, tf.bfloat16))
    assert got.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(),
                               _reference(tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy(),
                                          2, 1.0, 0.0, 1e-3), atol=0.05)
