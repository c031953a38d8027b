"""The documentation: the API reference builds without a warning, and every
command shown in README.md and docs/*.md is checked or run."""
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS_DIR = os.path.join(REPO_ROOT, "docs")


# --------------------------------------------------------------------------
# The site: mkdocs + mkdocstrings, warnings are errors
# --------------------------------------------------------------------------

def test_every_public_module_has_an_api_page():
    import yaml
    with open(os.path.join(REPO_ROOT, "mkdocs.yml")) as f:
        text = f.read()
    # mkdocs.yml has !!python tags in some setups; ours is plain YAML.
    nav = yaml.safe_load(text)["nav"]

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    listed = set(pages(nav))
    on_disk = {os.path.relpath(os.path.join(root, name), DOCS_DIR)
               for root, _, names in os.walk(DOCS_DIR) for name in names if name.endswith(".md")}
    assert listed == on_disk, "nav and docs/ differ: {}".format(sorted(listed ^ on_disk))

    documented = set()
    for name in os.listdir(os.path.join(DOCS_DIR, "api")):
        with open(os.path.join(DOCS_DIR, "api", name)) as f:
            documented |= {line.split()[1] for line in f if line.startswith("::: ")}
    modules = set()
    for root, _, names in os.walk(os.path.join(REPO_ROOT, "mrcnn")):
        for name in names:
            if name.endswith(".py") and name != "__main__.py":
                rel = os.path.relpath(os.path.join(root, name), REPO_ROOT)[:-3]
                modules.add(rel.replace(os.sep, ".").replace(".__init__", ""))
    modules.discard("mrcnn")  # the package docstring only; README covers it
    assert modules <= documented, "modules without an API page: {}".format(
        sorted(modules - documented))


def test_mkdocs_build_strict_has_no_warnings(tmp_path):
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as e:  # pragma: no cover - the dev extra installs them
        raise AssertionError('mkdocs/mkdocstrings missing: pip install -e ".[dev]"') from e
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                          "-f", os.path.join(REPO_ROOT, "mkdocs.yml"),
                          "-d", str(tmp_path / "site")],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    log = out.stdout + out.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert out.returncode == 0 and not warnings, "mkdocs build --strict:\n" + log[-5000:]
    page = (tmp_path / "site" / "api" / "model" / "index.html").read_text()
    for name in ("mrcnn.model.MaskRCNN.detect", "mrcnn.model.MaskRCNN.load_weights",
                 "mrcnn.model.MaskRCNN.run_graph"):
        assert 'id="{}"'.format(name) in page, name


# --------------------------------------------------------------------------
# The commands and code shown in README.md and docs/*.md
# --------------------------------------------------------------------------

import ast  # noqa: E402
import glob  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402

import pytest  # noqa: E402

DOC_FILES = ["README.md"] + sorted(os.path.relpath(p, REPO_ROOT)
                                   for p in glob.glob(os.path.join(DOCS_DIR, "*.md")))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_LANGS = ("bash", "sh", "shell", "console")

# Commands shown but not run, and why. A prefix of the command as written.
NOT_RUN = {
    "cd ": "moves into the checkout; the tests run from it",
    "python3.11 -m venv ": "creates the user's environment; CI installs into its own",
    ". .venv/bin/activate": "activates the user's environment",
    "docker run ": "needs docker and the tensorflow/serving image (downloads); "
                   "tests/test_export.py serves the SavedModel the way TF Serving does",
    "export TF_CONFIG=": "configures a cluster of machines; tests/test_distribute.py runs two "
                         "workers on 127.0.0.1",
    "python train.py": "the reader's own training script on a cluster (see TF_CONFIG above)",
    "tensorboard --logdir ": "a server that runs until stopped; the TensorBoard logs are "
                             "read by tests/test_visualize_curves.py",
    "saved_model_cli show ": "needs an exported model; tests/test_export.py checks the "
                             "signatures it prints",
}
# `mrcnn` commands that are parsed but not run here, and why.
MRCNN_NOT_RUN = {
    "download-weights": "downloads 246 MB; tests/test_download.py runs it against a local "
                        "server",
    "demo": "trains for minutes; tests/test_cli.py runs it with few steps",
    "train": "needs the reader's data and minutes; tests/test_cli.py trains on a COCO export",
    "evaluate": "needs a trained model and data; tests/test_cli.py evaluates",
    "detect": "needs a trained model and images; tests/test_cli.py detects",
    "export": "needs a trained model; tests/test_cli.py and tests/test_export.py export",
}


def _blocks(langs):
    """(file, line, language, text) of the fenced blocks in `langs`."""
    out = []
    for rel in DOC_FILES:
        with open(os.path.join(REPO_ROOT, rel)) as f:
            text = f.read()
        for m in FENCE.finditer(text):
            if m.group(1) in langs:
                out.append((rel, text[:m.start()].count("\n") + 2, m.group(1), m.group(2)))
    return out


def shell_commands():
    """(where, argv) of every command in the docs' shell blocks (and of
    `$ ` lines in unlabelled blocks): continuation lines joined, comments
    dropped, `&&` chains split."""
    commands = []
    for rel, line, lang, text in _blocks(SHELL_LANGS + ("",)):
        logical, start = "", None
        for k, raw in enumerate(text.splitlines()):
            if lang == "":
                if not raw.startswith("$ "):
                    continue
                raw = raw[2:]
            if start is None:
                start = line + k
            if raw.rstrip().endswith("\\"):
                logical += raw.rstrip()[:-1] + " "
                continue
            logical += raw
            if "'" in logical and logical.count("'") % 2:  # a quoted string goes on
                logical += "\n"
                continue
            argv = shlex.split(logical, comments=True)
            where = "{}:{}".format(rel, start)
            chain = []
            for word in argv + ["&&"]:
                if word == "&&":
                    if chain:
                        commands.append((where, chain))
                    chain = []
                else:
                    chain.append(word)
            logical, start = "", None
    return commands


COMMANDS = shell_commands()


def _ci_commands():
    with open(os.path.join(REPO_ROOT, ".ci", "run")) as f:
        return [shlex.split(line, comments=True) for line in f
                if line.strip() and not line.startswith("#")]


def _normalise_python(argv):
    """`python`/`python3`/`python3 -m pip` -> a comparable form without -q."""
    argv = list(argv)
    if argv[0] in ("python", "python3"):
        argv[0] = "python"
    if argv[:3] == ["python", "-m", "pip"]:
        argv = ["pip"] + argv[3:]
    return [a for a in argv if a != "-q"] if argv[0] == "pip" else argv


def test_the_docs_have_commands():
    texts = {" ".join(argv) for _, argv in COMMANDS}
    assert len(COMMANDS) >= 30
    assert 'pip install -e .[dev]' in texts and "mrcnn --help" in texts


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_doc_command_is_checked(where, argv):
    from mrcnn.cli import build_parser, make_config, parse_overrides

    text = " ".join(argv)
    if argv[0] == "mrcnn":
        parser = build_parser()
        if argv[1:] in ([], ["--help"], ["-h"]):
            return  # run for real in test_mrcnn_help_runs
        try:
            args = parser.parse_args(argv[1:])
        except SystemExit as e:
            raise AssertionError("{}: `{}` does not parse (exit {})".format(
                where, text, e.code)) from None
        assert args.command in MRCNN_NOT_RUN, "{}: say why `{}` is not run".format(where, text)
        if getattr(args, "set", None):
            # real attributes, valid values (train takes NUM_CLASSES from the data)
            make_config(defaults={"NUM_CLASSES": 2}, overrides=parse_overrides(args.set))
        return
    if argv[0] in ("pip", "python", "python3") and _normalise_python(argv)[0] in (
            "pip", "python") and (argv[:2] == ["pip", "install"] or "pytest" in argv
                                  or "pip" in argv[:3]):
        ci = [_normalise_python(c) for c in _ci_commands()]
        assert _normalise_python(argv) in ci, (
            "{}: `{}` is not what .ci/run runs ({})".format(where, text, ci))
        return
    reasons = [reason for prefix, reason in NOT_RUN.items() if text.startswith(prefix.strip())
               and (text + " ").startswith(prefix)]
    assert reasons, ("{}: `{}` is neither an mrcnn command, nor .ci/run's install/test "
                     "command, nor in NOT_RUN with a reason".format(where, text))


def test_mrcnn_help_runs(capsys):
    """`mrcnn --help` (the installed command, as getting-started.md runs it)
    and `mrcnn COMMAND --help` for each command the docs show."""
    import shutil

    from mrcnn.cli import main

    exe = shutil.which("mrcnn")
    command = [exe] if exe else [sys.executable, "-m", "mrcnn"]
    out = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "COMMAND" in out.stdout, out.stderr
    shown = sorted({argv[1] for _, argv in COMMANDS
                    if argv[0] == "mrcnn" and len(argv) > 1 and not argv[1].startswith("-")})
    assert set(shown) == set(MRCNN_NOT_RUN), "commands shown: {}".format(shown)
    for name in shown:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert "usage: mrcnn {}".format(name) in capsys.readouterr().out


# Python blocks ------------------------------------------------------------

PYTHON_BLOCKS = _blocks(("python",))

# Blocks cheap enough to run (no model, no data): (file, first line of the block).
RUNNABLE = [
    ("README.md", "from mrcnn import utils, visualize\nfrom mrcnn.data.shapes import"),
]


@pytest.mark.parametrize("rel,line,lang,text", PYTHON_BLOCKS,
                         ids=["{}:{}".format(b[0], b[1]) for b in PYTHON_BLOCKS])
def test_python_block_compiles_and_names_real_api(rel, line, lang, text):
    """Each block compiles, and every name it takes from mrcnn exists
    (`from mrcnn.x import y`, `import mrcnn.x as m` then `m.y`)."""
    import importlib
    import importlib.util

    tree = ast.parse(compile(text, "{}:{}".format(rel, line), "exec", ast.PyCF_ONLY_AST))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "mrcnn" or node.module.startswith("mrcnn.")):
            module = importlib.import_module(node.module)
            for name in node.names:
                full = "{}.{}".format(node.module, name.name)
                is_module = hasattr(module, "__path__") and \
                    importlib.util.find_spec(full) is not None
                assert hasattr(module, name.name) or is_module, \
                    "{}:{}: {} does not exist".format(rel, line, full)
                if is_module:
                    aliases[name.asname or name.name] = importlib.import_module(full)
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] == "mrcnn":
                    module = importlib.import_module(name.name)
                    if name.asname:
                        aliases[name.asname] = module
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases:
            module = aliases[node.value.id]
            assert hasattr(module, node.attr), "{}:{}: {}.{} does not exist".format(
                rel, line, module.__name__, node.attr)


def test_runnable_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for rel, start in RUNNABLE:
        (text,) = [b[3] for b in PYTHON_BLOCKS if b[0] == rel and b[3].startswith(start)]
        exec(compile(text, rel, "exec"), {"__name__": "__doc_block__"})
    assert (tmp_path / "shapes.png").stat().st_size > 1000
