"""Training machinery of MaskRCNN.train: the optimizer, the train step
(weighted losses + weight decay) and the per-epoch checkpoint.

The training graph itself (mrcnn.model.MaskRCNN.build(mode="training"))
outputs the five losses; `Trainer` wraps it for `keras.Model.fit`.
"""

import os

import keras
import tensorflow as tf

from mrcnn import weights as weight_io
from mrcnn.config import LOSS_NAMES

CONFIG_FILE = "config.json"

# Layer presets of MaskRCNN.train(layers=...): regexes of layer names.
LAYER_REGEX = {
    "heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "3+": r"(res3.*)|(bn3.*)|(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "4+": r"(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "5+": r"(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "all": ".*",
}


def make_optimizer(config, learning_rate):
    """The optimizer of config.OPTIMIZER, clipping each gradient's norm at
    GRADIENT_CLIP_NORM."""
    clip = config.GRADIENT_CLIP_NORM
    if config.OPTIMIZER == "Adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clip)
    if config.OPTIMIZER == "AdamW":
        return keras.optimizers.AdamW(learning_rate=learning_rate, clipnorm=clip,
                                      weight_decay=config.WEIGHT_DECAY)
    return keras.optimizers.SGD(learning_rate=learning_rate,
                                momentum=config.LEARNING_MOMENTUM, clipnorm=clip)


class Trainer(keras.Model):
    """Runs the training graph in `fit`: total loss = weighted sum of the
    five losses + L2 weight decay (matterport's: WEIGHT_DECAY * sum(w^2) /
    size(w) for every trainable weight but BN's gamma and beta)."""

    def __init__(self, net, config, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.loss_weights = [float(config.LOSS_WEIGHTS.get(n, 1.0)) for n in LOSS_NAMES]
        # AdamW decays the weights itself.
        self.weight_decay = 0.0 if config.OPTIMIZER == "AdamW" else float(config.WEIGHT_DECAY)
        self.trackers = [keras.metrics.Mean(name=n) for n in ["loss"] + list(LOSS_NAMES)]

    @property
    def metrics(self):
        return self.trackers

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def _compute_losses(self, data, training):
        # fit() passes the 7 input arrays; train_on_batch(x) passes (x, None, None).
        if isinstance(data, tuple) and len(data) in (1, 2, 3) and isinstance(data[0], (tuple, list)):
            data = data[0]
        outputs = self.net(list(data), training=training)
        parts = [w * tf.reduce_mean(l) for w, l in zip(self.loss_weights, outputs[-5:])]
        total = tf.add_n(parts)
        if self.weight_decay:
            decay = [tf.reduce_sum(tf.square(v)) / tf.cast(tf.size(v), tf.float32)
                     for v in self.net.trainable_variables
                     if "gamma" not in v.path and "beta" not in v.path]
            if decay:
                total = total + self.weight_decay * tf.add_n(decay)
        return total, parts

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total, parts = self._compute_losses(data, training=True)
        variables = self.net.trainable_variables
        grads = tape.gradient(total, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        return self._update(total, parts)

    def test_step(self, data):
        total, parts = self._compute_losses(data, training=False)
        return self._update(total, parts)

    def _update(self, total, parts):
        for tracker, value in zip(self.trackers, [total] + parts):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the weights at the end of each epoch to
    `checkpoint_path.format(epoch=epoch + 1)` (matterport's file names),
    atomically, and the config beside them."""

    def __init__(self, keras_model, checkpoint_path, config):
        super().__init__()
        self.net = keras_model
        self.checkpoint_path = checkpoint_path
        self.config = config

    def on_epoch_end(self, epoch, logs=None):
        path = self.checkpoint_path.format(epoch=epoch + 1)
        weight_io.save_weights(self.net, path)
        try:
            self.config.save(os.path.join(os.path.dirname(path), CONFIG_FILE))
        except ValueError:  # e.g. a callable BACKBONE: the weights are still saved
            pass
