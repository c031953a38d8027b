"""matterport's `ParallelModel` (multi-GPU training by splitting the batch and
merging the outputs on the CPU) does not exist in this package: TensorFlow's
own tf.distribute strategies replace it.

    config.GPU_COUNT = 4                 # replicas per machine
    model = MaskRCNN("training", config, model_dir)    # MirroredStrategy
    model.train(...)

or `MaskRCNN(..., strategy=tf.distribute.MirroredStrategy())`; several
machines: set TF_CONFIG and use mrcnn.distribute.make_strategy. See
docs/distributed.md.
"""

MESSAGE = ("mrcnn.parallel_model.ParallelModel was removed: set config.GPU_COUNT to the "
           "number of GPUs (MaskRCNN then trains under tf.distribute.MirroredStrategy), or "
           "pass strategy=tf.distribute.MirroredStrategy() / MultiWorkerMirroredStrategy() "
           "to MaskRCNN(...) or train(...); see docs/distributed.md")


class ParallelModel(object):
    """Placeholder kept so that `from mrcnn.parallel_model import
    ParallelModel` still imports; constructing it raises NotImplementedError
    saying what to use instead."""

    def __init__(self, keras_model=None, gpu_count=None, *args, **kwargs):
        raise NotImplementedError(MESSAGE)
