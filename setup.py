"""Install with `pip install -e ".[dev]"` (see README.md)."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_requirements(name):
    with open(os.path.join(HERE, name)) as f:
        return [line.split("#")[0].strip() for line in f
                if line.split("#")[0].strip()]


def read_version():
    with open(os.path.join(HERE, "mrcnn", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


# The API reference (mkdocs.yml; tests/test_docs.py builds it with --strict).
ONNX_REQUIREMENTS = ["tf2onnx>=1.17,<1.18", "onnx>=1.17", "onnxruntime>=1.20"]
TFLITE_REQUIREMENTS = ["ai-edge-litert>=2.1"]
DOCS_REQUIREMENTS = ["mkdocs>=1.6.1,<2", "mkdocstrings>=1.0.8", "mkdocstrings-python>=2.0.11"]


setup(
    # "mrcnn" on PyPI is an unrelated placeholder; the import name stays mrcnn.
    name="mask-rcnn-keras3",
    version=read_version(),
    description="Mask R-CNN for TensorFlow 2 / Keras 3 with matterport's Mask_RCNN API",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["mrcnn", "mrcnn.*"]),
    install_requires=read_requirements("requirements.txt"),
    entry_points={"console_scripts": ["mrcnn = mrcnn.cli:main"]},
    extras_require={
        # tensorflow-serving-api: the gRPC client's tests (tests/test_serving_clients.py);
        # its release follows TensorFlow's, and 2.21.x needs exactly tensorflow 2.21+.
        # ONNX export (tf2onnx) and ONNX Runtime; TFLite's standalone interpreter.
        "onnx": ONNX_REQUIREMENTS,
        "tflite": TFLITE_REQUIREMENTS,
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "nbclient>=0.10", "nbformat>=5.10",
                "ipykernel>=6.29", "tensorflow-serving-api>=2.21,<2.22"] + DOCS_REQUIREMENTS
               + ONNX_REQUIREMENTS + TFLITE_REQUIREMENTS,
        "docs": DOCS_REQUIREMENTS,
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
