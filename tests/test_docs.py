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
