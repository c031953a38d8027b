"""Training machinery of MaskRCNN.train: the layer selection, the
optimizer, the train step (weighted losses + weight decay), the per-epoch
checkpoint, and `fit`, which runs them.

The training graph itself (mrcnn.model.MaskRCNN.build(mode="training"))
outputs the five losses; `Trainer` wraps it for `keras.Model.fit`.
"""

import os
import re

import keras
import tensorflow as tf

from mrcnn import distribute as dist
from mrcnn import weights as weight_io
from mrcnn.heads import build_roi_heads
from mrcnn.modeldir import CONFIG_FILE  # noqa: F401  (importable from here as before)
from mrcnn.modeling import contracts
from mrcnn.modeling.inspection import log
from mrcnn.modeling.rpn import RPN_LOSSES

# Layer presets of MaskRCNN.train(layers=...): regexes of layer names.
LAYER_REGEX = {
    "heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "3+": r"(res3.*)|(bn3.*)|(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "4+": r"(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "5+": r"(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "all": ".*",
}


@keras.saving.register_keras_serializable(package="mrcnn")
class SGD(keras.optimizers.SGD):
    """keras.optimizers.SGD (same arguments, update and state) whose
    momentum update is TensorFlow's fused ResourceApplyKerasMomentum kernel
    (accum = momentum * accum - lr * grad; var += accum, or the Nesterov
    form) when no tf.distribute strategy is active: one pass over each
    weight instead of five, which matters for a 45M-parameter model.
    Per-weight `clipnorm` sums the squares with one L2Loss kernel and
    rescales the gradient with one multiplication.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or tf.distribute.has_strategy():
            return super().update_step(gradient, variable, learning_rate)
        if isinstance(variable, keras.Variable):
            variable = variable.value
        accum = self.momentums[self._get_variable_index(variable)].value
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle, accum=accum.handle,
            lr=tf.cast(learning_rate, variable.dtype),
            grad=tf.cast(gradient, variable.dtype),
            momentum=tf.cast(self.momentum, variable.dtype),
            use_locking=False, use_nesterov=bool(self.nesterov))

    def _clip_by_norm(self, values, axes=None):
        if axes is not None:
            return super()._clip_by_norm(values, axes)
        norm = tf.sqrt(2.0 * tf.nn.l2_loss(values))
        clip = tf.cast(self.clipnorm, values.dtype)
        return values * (clip / tf.maximum(norm, clip))


def make_optimizer(config, learning_rate, replicas=1):
    """The optimizer of config.OPTIMIZER, clipping each gradient's norm at
    GRADIENT_CLIP_NORM; with MIXED_PRECISION = "mixed_float16" wrapped in a
    keras.optimizers.LossScaleOptimizer (dynamic loss scaling: float16
    gradients underflow without it; bfloat16 has float32's range and needs
    none).

    replicas > 1: no clipnorm in the optimizer (Keras would clip each
    replica's gradient before summing them); Trainer clips the all-reduced
    gradient instead.
    """
    clip = config.GRADIENT_CLIP_NORM if replicas <= 1 else None
    if config.OPTIMIZER == "Adam":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clip)
    elif config.OPTIMIZER == "AdamW":
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, clipnorm=clip,
                                           weight_decay=config.WEIGHT_DECAY)
    else:
        optimizer = SGD(learning_rate=learning_rate, momentum=config.LEARNING_MOMENTUM,
                        clipnorm=clip)
    if getattr(config, "MIXED_PRECISION", None) == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_names(config):
    """Names of the training graph's losses: the RPN's, then each RoI
    head's of config.ROI_HEADS."""
    names = list(RPN_LOSSES)
    for head in build_roi_heads(config):
        names += list(head.losses)
    return names


class Trainer(keras.Model):
    """Runs the training graph in `fit`: total loss = weighted sum of the
    five losses + L2 weight decay (matterport's: WEIGHT_DECAY * sum(w^2) /
    size(w) for every trainable weight but BN's gamma and beta).

    Under a tf.distribute strategy `fit` runs train_step once per replica on
    that replica's IMAGES_PER_GPU images and the optimizer sums the
    replicas' gradients; each replica's loss is therefore divided by the
    number of replicas before differentiation, so the update is that of the
    mean loss over the replicas (the reported metrics are the unscaled
    losses, averaged over replicas by the Mean trackers). With a
    LossScaleOptimizer (mixed_float16) the loss is also multiplied by the
    loss scale, which apply_gradients divides out again.
    Build it (and compile it) under the strategy's scope."""

    def __init__(self, net, config, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        # The losses are the outputs named by the heads' (and the RPN's)
        # loss names; each weighs config.LOSS_WEIGHTS[name] (1 if absent).
        self.loss_names = contracts.loss_names(net, loss_names(config))
        self.loss_weights = [float(config.LOSS_WEIGHTS.get(n, 1.0)) for n in self.loss_names]
        # AdamW decays the weights itself.
        self.weight_decay = 0.0 if config.OPTIMIZER == "AdamW" else float(config.WEIGHT_DECAY)
        self.trackers = [keras.metrics.Mean(name=n) for n in ["loss"] + self.loss_names]
        self.clip_norm = config.GRADIENT_CLIP_NORM

    @property
    def metrics(self):
        return self.trackers

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a strategy Keras would average the first distributed batch
        # over the replicas to trace the model symbolically, which fails on
        # the boolean masks and is not needed: the network is built; only
        # the optimizer's slots must be created, under the strategy's scope.
        if self._distribute_strategy is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        with self.distribute_strategy.scope():
            if not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def _compute_losses(self, data, training):
        # fit() passes the 7 input arrays; train_on_batch(x) passes (x, None, None).
        if isinstance(data, tuple) and len(data) in (1, 2, 3) and isinstance(data[0], (tuple, list)):
            data = data[0]
        outputs = contracts.by_name(self.net, self.net(list(data), training=training))
        parts = [w * tf.reduce_mean(outputs[n])
                 for w, n in zip(self.loss_weights, self.loss_names)]
        total = tf.add_n(parts)
        if self.weight_decay:
            # sum(w^2) = 2 * l2_loss(w): one kernel, one pass over the weight.
            decay = [2.0 * tf.nn.l2_loss(v) / tf.cast(tf.size(v), tf.float32)
                     for v in self.net.trainable_variables
                     if "gamma" not in v.path and "beta" not in v.path]
            if decay:
                total = total + self.weight_decay * tf.add_n(decay)
        return total, parts

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total, parts = self._compute_losses(data, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = total / replicas if replicas > 1 else total
            scaled = self.optimizer.scale_loss(scaled)
        variables = self.net.trainable_variables
        grads = tape.gradient(scaled, variables)
        if replicas > 1 and self.clip_norm and self.optimizer.clipnorm is None:
            grads = self._clip_across_replicas(grads, replicas)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        return self._update(total, parts)

    def _clip_across_replicas(self, grads, replicas):
        """GRADIENT_CLIP_NORM applied to each gradient summed over the
        replicas (what one device with the global batch would clip), then
        divided by `replicas` again because the optimizer sums them."""
        context = tf.distribute.get_replica_context()
        present = [i for i, g in enumerate(grads) if g is not None]
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                    [tf.convert_to_tensor(grads[i]) for i in present])
        clip = self.clip_norm
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            clip = clip * tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
        grads = list(grads)
        for i, g in zip(present, summed):
            grads[i] = tf.clip_by_norm(g, clip) / replicas
        return grads

    def test_step(self, data):
        total, parts = self._compute_losses(data, training=False)
        return self._update(total, parts)

    def _update(self, total, parts):
        for tracker, value in zip(self.trackers, [total] + parts):
            tracker.update_state(value)
        logs = {t.name: t.result() for t in self.trackers}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces each per-replica log with MEAN along axis 0 under
            # a multi-worker strategy, which a scalar does not have.
            logs = {k: v[None] for k, v in logs.items()}
        return logs


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the weights at the end of each epoch to
    `checkpoint_path.format(epoch=epoch + 1)` (matterport's file names),
    atomically, and the config beside them.

    In a multi-worker run only the chief writes (`chief`, default
    mrcnn.distribute.is_chief(strategy)): the other workers hold the same
    weights, and several processes renaming onto one shared file would
    race."""

    def __init__(self, keras_model, checkpoint_path, config, strategy=None, chief=None):
        super().__init__()
        self.net = keras_model
        self.checkpoint_path = checkpoint_path
        self.config = config
        self.chief = dist.is_chief(strategy) if chief is None else bool(chief)

    def on_epoch_end(self, epoch, logs=None):
        if not self.chief:
            return
        path = self.checkpoint_path.format(epoch=epoch + 1)
        weight_io.save_weights(self.net, path)
        try:
            self.config.save(os.path.join(os.path.dirname(path), CONFIG_FILE))
        except ValueError:  # e.g. a callable BACKBONE: the weights are still saved
            pass


def set_trainable(keras_model, layer_regex, indent=0, verbose=1, top=True):
    """Make the layers of keras_model whose names fully match `layer_regex`
    trainable and freeze the others (nested models are searched too)."""
    if verbose > 0 and top:
        log("Selecting layers to train")
    for layer in keras_model.layers:
        if isinstance(layer, keras.Model):
            if verbose > 0:
                print("In model: ", layer.name)
            set_trainable(layer, layer_regex, indent=indent + 4, verbose=verbose, top=False)
            continue
        if not layer.weights:
            continue
        trainable = bool(re.fullmatch(layer_regex, layer.name))
        layer.trainable = trainable
        if trainable and verbose > 1:
            log("{}{:20}   ({})".format(" " * indent, layer.name, layer.__class__.__name__))


def fit(model, train_dataset, val_dataset, learning_rate, epochs, layers, augmentation=None,
        custom_callbacks=None, no_augmentation_sources=None, verbose=1):
    """MaskRCNN.train's work on a training-mode `model` (see its arguments):
    the datasets (distributed over model.strategy), TensorBoard and the
    checkpoints in model.log_dir, the layer selection, Trainer.fit from
    model.epoch to `epochs`. Returns the Keras History."""
    config = model.config
    layers = LAYER_REGEX.get(layers, layers)
    train_ds = model._make_dataset(train_dataset, shuffle=True, augmentation=augmentation,
                                   no_augmentation_sources=no_augmentation_sources)
    val_ds = None
    if val_dataset is not None and config.VALIDATION_STEPS:
        val_ds = model._make_dataset(val_dataset, shuffle=True)
    chief = dist.is_chief(model.strategy)
    callbacks = []
    if chief:
        model._create_log_dir()
        callbacks.append(keras.callbacks.TensorBoard(log_dir=model.log_dir, histogram_freq=0,
                                                     write_graph=False))
    callbacks.append(EpochCheckpoint(model.keras_model, model.checkpoint_path, config,
                                     chief=chief))
    callbacks += list(custom_callbacks or [])
    if verbose:
        log("\nStarting at epoch {}. LR={}\n".format(model.epoch, learning_rate))
        log("Checkpoint Path: {}".format(model.checkpoint_path))
    model.set_trainable(layers, verbose=verbose)
    with dist.scope(model.strategy):
        trainer = Trainer(model.keras_model, config)
        trainer.compile(optimizer=make_optimizer(config, learning_rate,
                                                 replicas=dist.replicas(model.strategy)),
                        jit_compile=bool(config.XLA))
    history = trainer.fit(train_ds, initial_epoch=model.epoch, epochs=epochs,
                          steps_per_epoch=config.STEPS_PER_EPOCH,
                          callbacks=callbacks, validation_data=val_ds, shuffle=False,
                          validation_steps=config.VALIDATION_STEPS if val_ds else None,
                          verbose=verbose)
    model.epoch = max(model.epoch, epochs)
    return history
