import gc
import os
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (e.g. the long loader fuzzing)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, skipped unless --runslow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module", autouse=True)
def free_models_after_module():
    """Drop Keras' global state and collect after each test module: each
    builds its own models, and a pytest worker runs hundreds of them (a
    worker grew past 14 GB without this, under xdist on a 24 GB machine)."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session(free_memory=True)
    gc.collect()
