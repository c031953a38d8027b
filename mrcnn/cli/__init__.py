"""The `mrcnn` command line.

    mrcnn demo --output-dir DIR                    train on shapes, evaluate, draw
    mrcnn train --format coco --train ann.json ... train on your data
    mrcnn evaluate --model DIR --format coco --dataset ann.json
    mrcnn evaluate --model DIR --format coco-panoptic --dataset panoptic.json   PQ too
    mrcnn detect --model DIR image.jpg ... [--json out.json] [--save-dir DIR]
    mrcnn export --model DIR --output EXPORT_DIR [--version N]
    mrcnn export --model DIR --format onnx|tflite --output FILE [--quantize ...]
    mrcnn download-weights coco

MODEL is a directory written by `MaskRCNN.save` (config.json + mask_rcnn.h5,
as `mrcnn demo` and `mrcnn train` write), `coco` (matterport's released COCO
model; `mrcnn download-weights coco` fetches it), or an .h5 weight file with
`--config CONFIG.json` (a training checkpoint finds the config.json its run
wrote beside it).

Exit status: 0 success, 1 bad input (the message names the file or field),
2 bad command line.

The package: one module per subcommand (demo.py, train.py, evaluate.py,
detect.py, export.py, download.py: `_<command>(args)` runs it,
`add_parser(sub)` declares its options), main.py (`build_parser`, `main`),
common.py (configs, models and datasets from arguments, `UsageError`) and
arguments.py (options several subcommands share). The names below are those
the single-file mrcnn/cli.py had.
"""

from mrcnn.cli.arguments import (_dataset_arguments, _dataset_options,  # noqa: F401
                                 _label_list, _model_arguments, _subcommand)
from mrcnn.cli.common import (DATASET_FORMATS, UsageError,  # noqa: F401
                              _labelme_keypoint_names, _load_dataset, load_dataset,
                              load_model, make_config, parse_overrides)
from mrcnn.cli.demo import _demo  # noqa: F401
from mrcnn.cli.detect import _detect  # noqa: F401
from mrcnn.cli.download import _download_weights  # noqa: F401
from mrcnn.cli.evaluate import _evaluate  # noqa: F401
from mrcnn.cli.export import _export  # noqa: F401
from mrcnn.cli.main import build_parser, main  # noqa: F401
from mrcnn.cli.train import _train  # noqa: F401
from mrcnn.demo import DEMO_TASKS  # noqa: F401
from mrcnn.pretrained import CLASS_SPECIFIC_LAYERS  # noqa: F401
