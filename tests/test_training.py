"""mrcnn.training: the fused SGD against keras.optimizers.SGD."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.training import SGD


def _run(optimizer, steps=4, seed=0, strategy=None):
    """A few updates of two weights (one large enough for the clip to bite)
    with fixed gradients; returns the weights and momentum slots."""
    rng = np.random.default_rng(seed)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        weights = [keras.Variable(rng.normal(size=(3, 4)).astype(np.float32)),
                   keras.Variable(rng.normal(size=(5,)).astype(np.float32))]
    grads = [[tf.constant(rng.normal(size=w.shape).astype(np.float32) * scale)
              for w in weights] for scale in (0.5, 3.0, 0.1, 2.0)[:steps]]

    @tf.function
    def step(g):
        strategy.run(lambda *g: optimizer.apply_gradients(zip(g, weights)), args=tuple(g))
    for g in grads:
        step(g)
    return [w.numpy() for w in weights] + [m.numpy() for m in optimizer.momentums]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("clipnorm", [None, 1.0])
def test_fused_sgd_matches_keras_sgd(nesterov, clipnorm):
    """Same weights and momentum after several steps as Keras' own SGD, with
    and without Nesterov and per-weight clipnorm (the second step's
    gradients have norms above 1, so the clip acts)."""
    kwargs = dict(learning_rate=0.05, momentum=0.9, nesterov=nesterov, clipnorm=clipnorm)
    want = _run(keras.optimizers.SGD(**kwargs))
    got = _run(SGD(**kwargs))
    assert not np.allclose(want[0], _run(keras.optimizers.SGD(**dict(kwargs, momentum=0.5)))[0])
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_fused_sgd_under_a_strategy_and_without_momentum():
    """Under a tf.distribute strategy (and with momentum 0) the fused kernel
    is not used; the updates are Keras' own."""
    want = _run(keras.optimizers.SGD(learning_rate=0.1, momentum=0.8, clipnorm=2.0))
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        optimizer = SGD(learning_rate=0.1, momentum=0.8, clipnorm=2.0)
    got = _run(optimizer, strategy=strategy)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    plain = _run(keras.optimizers.SGD(learning_rate=0.1))
    np.testing.assert_allclose(_run(SGD(learning_rate=0.1))[0], plain[0], rtol=1e-6)


def test_fused_sgd_is_serializable():
    opt = SGD(learning_rate=0.02, momentum=0.9, clipnorm=5.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, SGD)
    assert (again.momentum, again.clipnorm) == (0.9, 5.0)
