"""Training under tf.distribute on this CPU-only machine, each run in a
subprocess (logical devices and collective ops must be configured before
TensorFlow starts):

- MirroredStrategy over 2 logical CPU devices gives the loss curve of one
  device with the same global batch;
- a 2-worker MultiWorkerMirroredStrategy cluster on 127.0.0.1 trains a few
  steps and only the chief writes a checkpoint.

ParallelModel's message is tested in test_parallel_model.py, the helpers
of mrcnn/distribute.py in this process in test_distribute_helpers.py.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

COMMON = textwrap.dedent('''
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, {tests!r})
    import tensorflow as tf
    {setup}
    import keras
    import numpy as np
    from test_model import SquareDataset, TinyConfig
    from mrcnn.model import MaskRCNN

    class Same(SquareDataset):
        """Identical images: the loss of a batch does not depend on which
        images land on which replica."""
        def load(self, count):
            super().load(count)
            for info in self.image_info:
                info["offset"] = 0

    def make_config(replicas, per_replica, epochs):
        class C(TinyConfig):
            GPU_COUNT = replicas
            IMAGES_PER_GPU = per_replica
            STEPS_PER_EPOCH = 1
            VALIDATION_STEPS = 0
            OPTIMIZER = "SGD"
            LEARNING_MOMENTUM = 0.0
        return C()

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses = []
        def on_epoch_end(self, epoch, logs=None):
            self.losses.append(float(logs["loss"]))

    def train(replicas, per_replica, epochs, model_dir, strategy=None):
        d = Same()
        d.load(4)
        keras.utils.set_random_seed(0)
        model = MaskRCNN("training", make_config(replicas, per_replica, epochs), model_dir,
                         strategy=strategy)
        record = Record()
        model.train(d, None, learning_rate=0.002, epochs=epochs, layers="heads",
                    custom_callbacks=[record], verbose=0)
        return model, record.losses
''')

MIRRORED = '''
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
'''


def run_script(body, setup, tmp_path, env=None, timeout=240):
    path = tmp_path / "script.py"
    path.write_text(COMMON.format(tests=TESTS, setup=setup) + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(tmp_path),
                            env=dict(os.environ, **(env or {})))


def result(proc, timeout=240):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("timed out after {}s:\n{}".format(timeout, err[-3000:]))
    assert proc.returncode == 0, err[-5000:]
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def test_mirrored_two_devices_match_one_device(tmp_path):
    body = '''
        model2, two = train(2, 2, 4, "two")
        strategy = model2.strategy
        model1, one = train(1, 4, 4, "one")
        print(json.dumps({"one": one, "two": two, "replicas": strategy.num_replicas_in_sync,
                          "kind": type(strategy).__name__,
                          "variable": type(model2.keras_model.weights[0].value).__name__}))
    '''
    r = result(run_script(body, MIRRORED, tmp_path))
    assert r["kind"] == "MirroredStrategy" and r["replicas"] == 2
    one, two = np.array(r["one"]), np.array(r["two"])
    assert np.all(np.isfinite(one)) and np.all(np.isfinite(two))
    # Same initial weights and data: the first losses agree closely; later
    # ones within the noise of the random RoI / anchor sampling.
    np.testing.assert_allclose(two[0], one[0], rtol=0.02)
    np.testing.assert_allclose(two, one, rtol=0.15)
    assert two[-1] < two[0] and one[-1] < one[0]


# Script text (4-space indented, like the test bodies appended to it).
BN_STATS = '''
    class Shaded(SquareDataset):
        """Each image on its own background level: the per-replica halves of
        a batch have different activation statistics."""
        def load_image(self, image_id):
            image = super().load_image(image_id)
            image[image == 40] = 20 + 50 * image_id
            return image

    def bn_after_one_step(replicas, per_replica, sync, precision=None, epochs=1):
        class C(TinyConfig):
            NAME = "bn"
            GPU_COUNT = replicas
            IMAGES_PER_GPU = per_replica
            STEPS_PER_EPOCH = 1
            VALIDATION_STEPS = 0
            TRAIN_BN = None
            SYNC_BATCH_NORM = sync
            MIXED_PRECISION = precision
        d = Shaded()
        d.load(replicas * per_replica)
        keras.utils.set_random_seed(0)
        model = MaskRCNN("training", C(), "m%d%d%s" % (replicas, sync, precision))
        record = Record()
        model.train(d, None, learning_rate=0.002, epochs=epochs, layers="all",
                    custom_callbacks=[record], verbose=0)
        bn = model.keras_model.get_layer("bn_conv1")
        fpn = model.keras_model.get_layer("fpn_p2")
        return {"var": np.asarray(bn.moving_variance).tolist(),
                "mean": np.asarray(bn.moving_mean).tolist(), "losses": record.losses,
                "dtypes": [fpn.compute_dtype, fpn.kernel.dtype]}
'''


def test_sync_bn_model_then_another_model_in_one_process(tmp_path):
    """A SYNC_BATCH_NORM model trained on 2 replicas, then a model without it
    in the same process (a notebook re-running its training cell with
    another config): both train. With one MirroredStrategy per model the
    second failed with "Shape mismatch in the collective instance" (the
    strategies numbered their different all-reduces alike); make_strategy
    now shares one strategy per device set."""
    body = BN_STATS + '''
    from mrcnn import distribute
    same = distribute.make_strategy(make_config(2, 2, 1)) is distribute.make_strategy(
        make_config(2, 1, 1))
    out = {"sync": bn_after_one_step(2, 2, True), "local": bn_after_one_step(2, 2, False),
           "same_strategy": same}
    print(json.dumps(out))
    '''
    r = result(run_script(body, MIRRORED, tmp_path))
    assert r["same_strategy"]
    for run in (r["sync"], r["local"]):
        assert np.isfinite(run["losses"]).all() and np.isfinite(run["var"]).all()
        assert run["var"] != [1.0] * len(run["var"])   # the statistics moved


def test_mixed_float16_on_two_replicas(tmp_path):
    """mixed_float16 with synchronized BatchNorm under MirroredStrategy: the
    LossScaleOptimizer path with the cross-replica gradient clipping trains
    (finite losses and statistics, float16 compute, float32 weights)."""
    body = BN_STATS + '''
    print(json.dumps(bn_after_one_step(2, 2, True, precision="mixed_float16", epochs=3)))
    '''
    r = result(run_script(body, MIRRORED, tmp_path))
    assert r["dtypes"] == ["float16", "float32"]
    assert len(r["losses"]) == 3 and np.all(np.isfinite(r["losses"]))
    assert np.all(np.isfinite(r["var"])) and np.all(np.isfinite(r["mean"]))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_one_checkpoint(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
    model_dir = tmp_path / "logs"
    body = '''
        from mrcnn import distribute
        strategy = distribute.make_strategy(make_config(1, 2, 2))
        model, losses = train(1, 2, 2, {model_dir!r}, strategy=strategy)
        print(json.dumps({{"losses": losses, "chief": distribute.is_chief(strategy),
                          "replicas": strategy.num_replicas_in_sync,
                          "mwms": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)}}))
    '''.format(model_dir=str(model_dir))
    procs = []
    for index in range(2):
        work = tmp_path / ("w%d" % index)
        work.mkdir()
        env = {"TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        procs.append(run_script(body, "", work, env=env))
    try:
        results = [result(p, timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [r["mwms"] for r in results] == [True, True]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["chief"] for r in results] == [True, False]
    # Both workers report the same (all-reduced) losses.
    np.testing.assert_allclose(results[0]["losses"], results[1]["losses"], rtol=1e-5)
    checkpoints = [os.path.join(root, f) for root, _, files in os.walk(model_dir)
                   for f in files if f.endswith(".h5")]
    assert [os.path.basename(c) for c in sorted(checkpoints)] == [
        "mask_rcnn_tiny_0001.h5", "mask_rcnn_tiny_0002.h5"], checkpoints


def test_gpu_count_without_devices_names_the_attribute():
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from test_model import TinyConfig\n"
            "from mrcnn import distribute\n"
            "class C(TinyConfig):\n    GPU_COUNT = 3\n"
            "try:\n    distribute.make_strategy(C())\nexcept ValueError as e:\n"
            "    print('ERR', e)\n" % TESTS)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert "ERR C.GPU_COUNT = 3" in out.stdout, out.stderr[-2000:]


def test_sync_batch_norm_statistics_are_those_of_the_global_batch(tmp_path):
    """mrcnn's BatchNorm built under SYNC_BATCH_NORM (batch_norm_options) on 2
    replicas, each fed half of a batch whose halves differ: its moving
    statistics equal one device's on the whole batch; without it they are
    those of the first replica's half alone (Keras keeps the first
    replica's update of the mirrored moving statistics). Also: MaskRCNN with
    SYNC_BATCH_NORM = True builds its training BatchNorm layers synchronized."""
    body = '''
    from mrcnn import distribute
    from mrcnn.backbone import BatchNorm, batch_norm_options

    strategy = distribute.make_strategy(make_config(2, 2, 1))
    x = np.random.default_rng(0).normal(size=(4, 5, 5, 3)).astype("float32")
    x[2:] += np.array([3.0, -2.0, 0.5], np.float32)   # the second replica's half differs

    def stats(bn):
        return [bn.moving_mean.numpy().tolist(), bn.moving_variance.numpy().tolist()]

    def replicated(sync):
        with batch_norm_options(synchronized=sync), strategy.scope():
            bn = BatchNorm(train_bn=None)
            bn.build((None, 5, 5, 3))
        halves = strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(x[2 * ctx.replica_id_in_sync_group:
                                      2 * ctx.replica_id_in_sync_group + 2]))
        tf.function(lambda v: strategy.run(lambda t: bn(t, training=True), args=(v,)))(halves)
        return stats(bn), bool(bn.synchronized)

    one = BatchNorm(train_bn=None)
    one(tf.constant(x), training=True)
    first = BatchNorm(train_bn=None)
    first(tf.constant(x[:2]), training=True)

    class C(TinyConfig):
        GPU_COUNT = 2
        SYNC_BATCH_NORM = True
    model = MaskRCNN("training", C(), "sync")
    flags = [l.synchronized for l in model.keras_model.layers if type(l).__name__ == "BatchNorm"]
    (sync, sync_flag), (local, local_flag) = replicated(True), replicated(False)
    print(json.dumps({"one": stats(one), "first": stats(first), "sync": sync, "local": local,
                      "flags": [sync_flag, local_flag], "model_flags": flags}))
    '''
    r = result(run_script(body, MIRRORED, tmp_path))
    assert r["flags"] == [True, False]
    assert r["model_flags"] and all(r["model_flags"])
    one, first, sync, local = (np.array(r[k]) for k in ("one", "first", "sync", "local"))
    np.testing.assert_allclose(sync, one, rtol=1e-5, atol=1e-6)
    # Keras keeps the first replica's update of the (mirrored) moving statistics.
    np.testing.assert_allclose(local, first, rtol=1e-5, atol=1e-6)
    assert np.abs(local - one).max() > 0.05
