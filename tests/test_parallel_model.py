"""mrcnn/parallel_model.py: matterport's ParallelModel is gone; importing it
still works and constructing it says what replaces it."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parallel_model_says_what_to_use():
    from mrcnn.parallel_model import ParallelModel
    with pytest.raises(NotImplementedError, match="GPU_COUNT.*strategy"):
        ParallelModel(None, 2)


def test_parallel_model_message_points_to_existing_docs():
    from mrcnn.parallel_model import MESSAGE, ParallelModel
    # matterport's call spelled with keywords fails the same way.
    with pytest.raises(NotImplementedError) as info:
        ParallelModel(keras_model=None, gpu_count=4)
    assert str(info.value) == MESSAGE
    assert "MirroredStrategy" in MESSAGE and "MultiWorkerMirroredStrategy" in MESSAGE
    assert "docs/distributed.md" in MESSAGE
    assert os.path.isfile(os.path.join(ROOT, "docs", "distributed.md"))
