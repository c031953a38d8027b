"""Distribution and precision helpers of MaskRCNN: tf.distribute strategies,
the per-worker input pipeline, chief detection and mixed precision.

    strategy = mrcnn.distribute.make_strategy(config)   # first thing in the program
    model = MaskRCNN("training", config, model_dir, strategy=strategy)
    model.train(...)    # global batch = IMAGES_PER_GPU x strategy.num_replicas_in_sync

`make_strategy` picks, in this order: MultiWorkerMirroredStrategy when
TF_CONFIG names more than one task, MirroredStrategy over GPU_COUNT devices
when GPU_COUNT > 1, else None (TensorFlow's default, one device). See
docs/distributed.md.
"""

import contextlib
import json
import os

PRECISIONS = (None, "float32", "mixed_float16", "mixed_bfloat16")


# ----------------------------------------------------------------------
# Mixed precision
# ----------------------------------------------------------------------
@contextlib.contextmanager
def precision_scope(policy):
    """Build layers under Keras' dtype policy `policy` (None or "float32":
    no change), restoring the previous global policy afterwards.

    Layers that must stay in float32 (box math, NMS, losses, the heads'
    final outputs) say so with their own dtype, which wins over the
    global policy."""
    import keras

    if policy in (None, "float32"):
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# ----------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------
def tf_config():
    """The parsed TF_CONFIG environment variable, or {} if unset."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError("TF_CONFIG is not valid JSON: {}".format(e)) from None
    if not isinstance(value, dict):
        raise ValueError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return value


def _cluster_size(value):
    cluster = value.get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def make_strategy(config):
    """The tf.distribute strategy for `config`, or None for one device.

    - TF_CONFIG with more than one chief/worker task:
      MultiWorkerMirroredStrategy (GPU_COUNT GPUs per worker, or the CPU).
      Must be called before any other TensorFlow op runs.
    - GPU_COUNT > 1: MirroredStrategy over the first GPU_COUNT GPUs (or,
      on a machine without GPUs, logical CPU devices made with
      tf.config.set_logical_device_configuration, as the tests do).
    - otherwise None.
    The same strategy object is returned for the same devices for the life
    of the process (see _STRATEGIES).
    Raises ValueError naming GPU_COUNT when there are too few devices.
    """
    import tensorflow as tf

    count = int(config.GPU_COUNT)
    if _cluster_size(tf_config()) > 1:
        return _shared(("multi_worker",), tf.distribute.MultiWorkerMirroredStrategy)
    if count <= 1:
        return None
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    devices = gpus if gpus else cpus
    if len(devices) < count:
        raise ValueError(
            "{}.GPU_COUNT = {}: this process sees {} GPU(s) and {} CPU device(s); set "
            "GPU_COUNT to the number of replicas this machine has, or pass "
            "strategy=".format(type(config).__name__, count, len(gpus), len(cpus)))
    names = tuple(d.name for d in devices[:count])
    return _shared(("mirrored",) + names, lambda: tf.distribute.MirroredStrategy(devices=names))


# One strategy per kind and device set, for the whole process. Each
# strategy numbers its collective ops from the same starting keys, so two
# strategies over the same devices (a second model in a notebook) can pair
# different all-reduces of different graphs and fail with "Shape mismatch in
# the collective instance"; a MultiWorkerMirroredStrategy can only be made
# once per process anyway.
_STRATEGIES = {}


def _shared(key, make):
    if key not in _STRATEGIES:
        _STRATEGIES[key] = make()
    return _STRATEGIES[key]


def replicas(strategy):
    """Replicas in sync (all workers): 1 without a strategy."""
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def is_chief(strategy=None):
    """True on the process that writes checkpoints and logs: always without
    a multi-worker strategy; else the 'chief' task, or worker 0 when the
    cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None and getattr(resolver, "task_type", None):
        task_type, task_id = resolver.task_type, resolver.task_id
        cluster = resolver.cluster_spec().as_dict()
    else:
        value = tf_config()
        task = value.get("task", {})
        task_type, task_id = task.get("type"), task.get("index", 0)
        cluster = value.get("cluster", {})
    if not task_type:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and int(task_id or 0) == 0 and "chief" not in cluster


def scope(strategy):
    """strategy.scope(), or a no-op context without a strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


class DatasetShard(object):
    """A view of a mrcnn Dataset restricted to every `count`-th image id
    from `index` (one worker's share); everything else is the dataset's."""

    def __init__(self, dataset, count, index):
        import numpy as np

        self._dataset = dataset
        self.image_ids = np.asarray(dataset.image_ids)[int(index)::int(count)]
        if len(self.image_ids) == 0:
            raise ValueError("input shard {} of {} has no images: the dataset has only {}"
                             .format(index, count, len(dataset.image_ids)))

    def __getattr__(self, name):
        return getattr(self._dataset, name)


def distribute_dataset(strategy, make_dataset, images_per_replica):
    """A per-replica-batched, per-worker-sharded distributed dataset.

    make_dataset(batch_size, shard): a function returning a tf.data.Dataset
        of batches of `batch_size`; `shard` is (num_input_pipelines,
        input_pipeline_id), which it must apply to its list of image ids
        before loading them (so each worker loads only its share).
    images_per_replica: IMAGES_PER_GPU; the global batch is that times
        strategy.num_replicas_in_sync.
    Without a strategy, make_dataset(images_per_replica, None).
    """
    import tensorflow as tf

    if strategy is None:
        return make_dataset(images_per_replica, None)

    def fn(context):
        shard = None
        if context.num_input_pipelines > 1:
            shard = (context.num_input_pipelines, context.input_pipeline_id)
        ds = make_dataset(images_per_replica, shard)
        options = tf.data.Options()
        # Sharded by hand above; tf.data must not shard again.
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    return strategy.distribute_datasets_from_function(fn)
