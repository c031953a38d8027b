"""mrcnn.visualize, the package: the headless backend chosen on import, and every
function re-exported from the module it lives in (the modules' own tests are
tests/test_visualize_<module>.py)."""
import importlib
import json
import os
import subprocess
import sys

import matplotlib
import pytest

from mrcnn import visualize

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VISUALIZE_DIR = os.path.join(REPO_ROOT, "mrcnn", "visualize")

# Where each of matterport's functions (and this project's training curves) lives.
HOME = {
    "instances": ["random_colors", "apply_mask", "display_instances", "display_images",
                  "display_top_masks"],
    "comparison": ["draw_box", "display_differences", "draw_boxes", "draw_rois"],
    "evaluation": ["plot_precision_recall", "plot_overlaps", "display_table",
                   "display_weight_stats"],
    "curves": ["read_tensorboard_scalars", "plot_training_curves"],
    "panoptic": ["display_panoptic"],
    "keypoints": ["display_keypoints"],
}


# ------------------------------------------------------------- re-exports ---

def test_every_function_reexported_from_its_module():
    names = [name for names in HOME.values() for name in names]
    assert sorted(visualize.__all__) == sorted(names)
    for module_name, names in HOME.items():
        module = importlib.import_module("mrcnn.visualize." + module_name)
        for name in names:
            function = getattr(visualize, name)
            assert function is getattr(module, name)
            assert function.__module__ == "mrcnn.visualize." + module_name
    # the private helpers of the single module stay reachable where they were
    for name in ("_select_headless_backend", "_finish_figure", "_count", "_in_notebook"):
        assert callable(getattr(visualize, name))


def test_modules_under_600_lines_each_with_its_test_module():
    modules = sorted(f[:-3] for f in os.listdir(VISUALIZE_DIR) if f.endswith(".py"))
    assert modules == ["__init__"] + sorted(HOME)
    for name in modules:
        with open(os.path.join(VISUALIZE_DIR, name + ".py")) as f:
            assert len(f.readlines()) <= 600, name
        if name != "__init__":
            assert os.path.isfile(os.path.join(REPO_ROOT, "tests",
                                               "test_visualize_{}.py".format(name)))


# ---------------------------------------------------------- backend choice ---

def _backend_after_import(env_update, drop=("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY"),
                          module="mrcnn.visualize"):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import " + module + ", matplotlib, sys; "
            "sys.stdout.write(matplotlib.get_backend().lower())")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux display check")
def test_headless_import_selects_agg_and_honours_mplbackend():
    assert _backend_after_import({}) == "agg"
    assert _backend_after_import({"MPLBACKEND": "svg"}) == "svg"


def _use_calls_on_import(module):
    """matplotlib.use calls made while importing ``module`` in a fresh headless
    process, each with whether pyplot had been imported by then."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import json, sys, matplotlib\n"
            "calls, use = [], matplotlib.use\n"
            "def spy(*a, **k):\n"
            "    calls.append(['matplotlib.pyplot' in sys.modules, list(a)])\n"
            "    return use(*a, **k)\n"
            "matplotlib.use = spy\n"
            "import " + module + "\n"
            "sys.stdout.write(json.dumps(calls))\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux display check")
@pytest.mark.parametrize("module", ["mrcnn.visualize"] + ["mrcnn.visualize." + m
                                                          for m in sorted(HOME)])
def test_importing_any_module_selects_agg_before_pyplot(module):
    # Matplotlib itself falls back to Agg without a display, so the backend's name
    # cannot tell; the package's __init__ (run before any of its modules) must
    # call matplotlib.use("Agg") once, before pyplot is imported.
    assert _use_calls_on_import(module) == [[False, ["Agg"]]]


@pytest.mark.parametrize("platform, env, pyplot_loaded, expect_agg", [
    ("linux", {}, False, True),
    ("linux", {"DISPLAY": ":0"}, False, False),
    ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False, False),
    ("linux", {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}, False, False),
    ("linux", {}, True, False),
    ("darwin", {}, False, False),
])
def test_select_headless_backend_decision(monkeypatch, platform, env, pyplot_loaded, expect_agg):
    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(sys, "platform", platform)
    for key in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not pyplot_loaded:
        monkeypatch.delitem(sys.modules, "matplotlib.pyplot")
    visualize._select_headless_backend()
    assert calls == ([("Agg",)] if expect_agg else [])
