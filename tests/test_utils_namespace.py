"""mrcnn.utils is matterport's re-export namespace: each of its names is the
object of the module that defines it, and no module of the package imports
mrcnn.utils (it may import from below; nothing below imports it)."""

import ast
import os
import subprocess
import sys

import pytest

import mrcnn
import mrcnn.anchors
import mrcnn.ap
import mrcnn.boxes
import mrcnn.fileio
import mrcnn.masks
import mrcnn.pretrained
from mrcnn import utils

PACKAGE_DIR = os.path.dirname(os.path.abspath(mrcnn.__file__))

# matterport's mrcnn.utils names (and this package's additions) by home module.
HOMES = {
    mrcnn.boxes: ["extract_bboxes", "compute_iou", "compute_overlaps", "compute_overlaps_masks",
                  "non_max_suppression", "apply_box_deltas", "box_refinement",
                  "box_refinement_graph", "norm_boxes", "denorm_boxes"],
    mrcnn.masks: ["resize", "resize_image", "resize_mask", "minimize_mask", "expand_mask",
                  "unmold_mask", "mask_to_box"],
    mrcnn.anchors: ["generate_anchors", "generate_pyramid_anchors"],
    mrcnn.ap: ["trim_zeros", "compute_matches", "compute_ap", "compute_ap_range",
               "compute_recall"],
    mrcnn.pretrained: ["COCO_MODEL_URL", "download_trained_weights"],
    mrcnn.fileio: ["download_file", "write_json_atomic", "write_text_atomic"],
}
# Defined in mrcnn.utils itself (matterport-only odds) or resolved lazily.
OWN = {"batch_slice", "logger", "Dataset"}


@pytest.mark.parametrize("module,name", [(m, n) for m, names in HOMES.items() for n in names],
                         ids=lambda v: getattr(v, "__name__", v))
def test_utils_name_is_the_home_modules_object(module, name):
    assert getattr(utils, name) is getattr(module, name)
    value = getattr(module, name)
    if callable(value):
        assert value.__module__ == module.__name__


def test_utils_has_no_other_public_names():
    public = {n for n in dir(utils) if not n.startswith("_")
              and not isinstance(getattr(utils, n), type(os))}
    homed = {n for names in HOMES.values() for n in names}
    assert public - homed == OWN
    assert homed <= public


def test_utils_dataset_is_the_data_dataset_class():
    from mrcnn.data.dataset import Dataset
    assert utils.Dataset is Dataset


def test_utils_defines_only_batch_slice():
    with open(os.path.join(PACKAGE_DIR, "utils.py")) as f:
        tree = ast.parse(f.read())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert defined == {"batch_slice", "__getattr__", "__dir__"}


def _utils_imports(source, module_name):
    """(line, text) of each import of mrcnn.utils in `source`, the code of
    module `module_name` (dotted, for relative imports)."""
    found = []
    package = module_name.rsplit(".", 1)[0] if "." in module_name else module_name
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "mrcnn.utils" or alias.name.startswith("mrcnn.utils."):
                    found.append((node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base == "mrcnn.utils" or base.startswith("mrcnn.utils."):
                found.append((node.lineno, "from " + base))
            elif base == "mrcnn" and any(a.name == "utils" for a in node.names):
                found.append((node.lineno, "from mrcnn import utils"))
    return found


def test_import_checker_finds_every_spelling():
    source = ("from mrcnn import utils\nimport mrcnn.utils\nfrom mrcnn.utils import resize\n"
              "def f():\n    from .. import utils\n    from ..utils import compute_ap\n"
              "from mrcnn import boxes\nimport keras.utils\n")
    assert [line for line, _ in _utils_imports(source, "mrcnn.data.sample")] == [1, 2, 3, 5, 6]


def test_no_module_below_imports_utils():
    offenders = []
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))
            if rel == os.path.join("mrcnn", "utils.py"):
                continue
            module_name = rel[:-3].replace(os.sep, ".")
            if module_name.endswith(".__init__"):
                module_name = module_name[:-len(".__init__")] + ".__init__"
            with open(path) as f:
                for line, text in _utils_imports(f.read(), module_name):
                    offenders.append("{}:{}: {}".format(rel, line, text))
    assert offenders == []


def test_utils_and_home_modules_import_without_tensorflow():
    code = ("import sys\nimport mrcnn.utils, mrcnn.boxes, mrcnn.masks, mrcnn.anchors, "
            "mrcnn.ap, mrcnn.config\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
