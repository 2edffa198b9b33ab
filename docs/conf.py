"""Sphinx configuration: ``sphinx-build -W -b html docs docs/_build/html`` (the docs extra)."""

import imdb_edge

project = "imdb-edge"
author = "the imdb-edge authors"
copyright = "2026, the imdb-edge authors"
release = imdb_edge.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# Google-style docstrings (Args / Returns / Raises / Example).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# The engines' own dependencies are not needed to document them.
autodoc_mock_imports = ["pandas", "pyspark", "dask", "distributed", "pyarrow"]

# argparse help says "--field": no typographic dashes or quotes.
smartquotes = False
# Unmarked code blocks are program output or shell, not Python.
highlight_language = "text"

html_theme = "furo"
html_title = f"imdb-edge {release}"


def setup(app):
    """``.. literal-attribute:: module.NAME``: a string of the code (a command's examples
    epilog) shown as it is printed, so the docs never hold a copy of it."""
    import importlib

    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    class LiteralAttribute(SphinxDirective):
        required_arguments = 1

        def run(self):
            module, _, name = self.arguments[0].rpartition(".")
            text = getattr(importlib.import_module(module), name).strip("\n")
            return [nodes.literal_block(text, text)]

    app.add_directive("literal-attribute", LiteralAttribute)
    return {"parallel_read_safe": True}
