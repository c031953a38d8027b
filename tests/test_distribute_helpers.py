"""mrcnn/distribute.py's helpers, in this process and without a second
device: TF_CONFIG parsing, chief detection, strategy choice for one device,
dataset sharding, the input pipeline under the default strategy and the
precision scope. Training under real strategies (in subprocesses, which
must configure devices before TensorFlow starts) is in test_distribute.py."""

import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import distribute
from mrcnn.config import Config
from mrcnn.data.dataset import Dataset


def set_tf_config(monkeypatch, value):
    monkeypatch.setenv("TF_CONFIG", value if isinstance(value, str) else json.dumps(value))


CLUSTER = {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]}
WORKERS = {"worker": ["host1:2222", "host2:2222"], "ps": ["host3:2222"]}


def test_tf_config_parsing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.tf_config() == {}
    set_tf_config(monkeypatch, "   ")
    assert distribute.tf_config() == {}
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "worker", "index": 1}})
    assert distribute.tf_config()["task"] == {"type": "worker", "index": 1}
    set_tf_config(monkeypatch, '{"cluster": ')
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.tf_config()
    set_tf_config(monkeypatch, '["worker"]')
    with pytest.raises(ValueError, match="TF_CONFIG must be a JSON object"):
        distribute.tf_config()


def test_cluster_size_counts_chief_and_workers_only():
    assert distribute._cluster_size({"cluster": CLUSTER}) == 3
    assert distribute._cluster_size({"cluster": WORKERS}) == 2      # "ps" is not counted
    assert distribute._cluster_size({}) == 0


@pytest.mark.parametrize("cluster, task, chief", [
    (None, None, True),                                     # no TF_CONFIG: one process
    (CLUSTER, {"type": "chief", "index": 0}, True),
    (CLUSTER, {"type": "worker", "index": 0}, False),        # there is a chief
    (CLUSTER, {"type": "worker", "index": 1}, False),
    (WORKERS, {"type": "worker", "index": 0}, True),         # no chief: worker 0
    (WORKERS, {"type": "worker", "index": 1}, False),
    (WORKERS, {"type": "ps", "index": 0}, False),
    (WORKERS, {"type": "evaluator"}, False),
])
def test_is_chief_from_tf_config(monkeypatch, cluster, task, chief):
    if cluster is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        set_tf_config(monkeypatch, {"cluster": cluster, "task": task})
    assert distribute.is_chief() is chief
    assert distribute.is_chief(None) is chief


def test_is_chief_prefers_the_strategy_cluster_resolver(monkeypatch):
    """A strategy's cluster resolver wins over TF_CONFIG (which says chief here)."""
    set_tf_config(monkeypatch, {"cluster": CLUSTER, "task": {"type": "chief", "index": 0}})
    for spec, task_type, task_id, chief in ((WORKERS, "worker", 1, False),
                                            (WORKERS, "worker", 0, True),
                                            (CLUSTER, "worker", 0, False)):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(spec), task_type=task_type, task_id=task_id)
        strategy = types.SimpleNamespace(cluster_resolver=resolver)
        assert distribute.is_chief(strategy) is chief, (spec, task_type, task_id)
    # A resolver without a task (single-worker strategies): TF_CONFIG decides.
    strategy = types.SimpleNamespace(
        cluster_resolver=tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({})))
    assert distribute.is_chief(strategy) is True


def one_device():
    return type("One", (Config,), {"NAME": "one", "NUM_CLASSES": 2, "GPU_COUNT": 1})()


def test_make_strategy_for_one_device_is_none(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.make_strategy(one_device()) is None
    # A cluster of one task is no cluster.
    set_tf_config(monkeypatch, {"cluster": {"worker": ["localhost:2222"]},
                                "task": {"type": "worker", "index": 0}})
    assert distribute.make_strategy(one_device()) is None


def test_replicas_and_scope_without_a_strategy():
    assert distribute.replicas(None) == 1
    with distribute.scope(None):
        v = tf.Variable(1.0)
    assert v.numpy() == 1.0
    default = tf.distribute.get_strategy()
    assert distribute.replicas(default) == 1


class Numbered(Dataset):
    def load(self, count):
        self.add_class("n", 1, "thing")
        for i in range(count):
            self.add_image("n", image_id=i, path=None, value=10 * i)
        self.prepare()

    def load_image(self, image_id):
        return np.full((2, 2, 3), self.image_info[image_id]["value"], np.uint8)


def test_dataset_shard_is_every_count_th_image():
    dataset = Numbered()
    dataset.load(5)
    shards = [distribute.DatasetShard(dataset, 2, i) for i in range(2)]
    assert [s.image_ids.tolist() for s in shards] == [[0, 2, 4], [1, 3]]
    # Everything else is the dataset's.
    assert shards[1].class_names == ["BG", "thing"] and shards[1].num_images == 5
    assert shards[1].load_image(shards[1].image_ids[1])[0, 0, 0] == 30
    assert distribute.DatasetShard(dataset, 5, 4).image_ids.tolist() == [4]
    with pytest.raises(ValueError, match="input shard 6 of 8 has no images: the dataset "
                                         "has only 5"):
        distribute.DatasetShard(dataset, 8, 6)


def test_distribute_dataset_without_and_with_the_default_strategy():
    calls = []

    def make(batch_size, shard):
        calls.append((batch_size, shard))
        return tf.data.Dataset.range(10).batch(batch_size)

    plain = distribute.distribute_dataset(None, make, 3)
    assert calls == [(3, None)]
    assert [b.numpy().tolist() for b in plain][:2] == [[0, 1, 2], [3, 4, 5]]
    calls.clear()
    default = distribute.distribute_dataset(tf.distribute.get_strategy(), make, 4)
    batches = [b.numpy().tolist() for b in default]
    assert calls == [(4, None)]                  # one input pipeline: no shard
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_precision_scope_sets_and_restores_the_policy():
    before = keras.config.dtype_policy().name
    assert before == "float32"
    for policy in (None, "float32"):
        with distribute.precision_scope(policy):
            assert keras.config.dtype_policy().name == before
    with distribute.precision_scope("mixed_float16"):
        dense = keras.layers.Dense(2)
        assert keras.config.dtype_policy().name == "mixed_float16"
    assert keras.config.dtype_policy().name == before
    assert dense.compute_dtype == "float16" and dense.variable_dtype == "float32"
    assert dense(np.ones((1, 3), np.float32)).dtype == "float16"
    with pytest.raises(RuntimeError, match="boom"):
        with distribute.precision_scope("mixed_bfloat16"):
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == before
    assert set(distribute.PRECISIONS) == {None, "float32", "mixed_float16", "mixed_bfloat16"}
