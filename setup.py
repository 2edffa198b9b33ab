"""Builds the one compiled extension; all metadata lives in pyproject.toml.

The extension is optional: where it cannot be compiled (no C compiler, no Python headers),
the package installs without it and runs on the pure-Python reference vectorizer, which
``imdb_edge`` reports with a warning. Set IMDB_EDGE_REQUIRE_EXTENSION=1 (CI does) to make a
failed build an error instead. IMDB_EDGE_CYTHON_DEBUG=1 turns Cython's bounds checks back on
(the .pyx header sets no such directive, so this switch is the only one). IMDB_EDGE_SANITIZE=1
builds with AddressSanitizer and UndefinedBehaviorSanitizer (scripts/test-asan.sh).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("IMDB_EDGE_CYTHON_DEBUG") == "1"
REQUIRED = os.environ.get("IMDB_EDGE_REQUIRE_EXTENSION") == "1"
SANITIZE = os.environ.get("IMDB_EDGE_SANITIZE") == "1"
# linear_scores rounds each float32 product and sum as the ONNX graph's Mul, ReduceSum and Add
# do: no fused multiply-add (GCC contracts across statements by default, aarch64 has FMA).
FLOAT_FLAGS = ["-ffp-contract=off"]
SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                   "-fno-sanitize-recover=undefined"]


def extensions():
    pyx = os.path.join("src_ext", "_vectorize_c.pyx")
    c_file = os.path.join("src_ext", "_vectorize_c.c")
    # An sdist (it has PKG-INFO) ships the generated C: built from it, Cython is never run,
    # so a board compiles the same C that was tested, without Cython (measured: cythonizing
    # under emulation took minutes).
    from_sdist = os.path.exists("PKG-INFO") and os.path.exists(c_file)
    try:
        if from_sdist and not (DEBUG or SANITIZE):
            raise ImportError("building from the sdist's C")
        from Cython.Build import cythonize
    except ImportError:
        if not os.path.exists(c_file):
            if REQUIRED:
                raise
            return []
        link = ["-s"] if sys.platform.startswith("linux") else []
        return [Extension("imdb_edge._vectorize_c", [c_file], extra_compile_args=["-O3", *FLOAT_FLAGS],
                          extra_link_args=link)]
    directives = {"boundscheck": DEBUG, "wraparound": DEBUG, "initializedcheck": DEBUG}
    # Stripped on Linux: the debug info Python's default flags add is 3/4 of the module's size.
    link = ["-s"] if sys.platform.startswith("linux") and not (DEBUG or SANITIZE) else []
    compile_args = (["-O0", "-g"] if DEBUG else ["-O3"]) + FLOAT_FLAGS
    if SANITIZE:
        compile_args, link = compile_args + ["-g"] + SANITIZER_FLAGS, link + SANITIZER_FLAGS
    ext = Extension("imdb_edge._vectorize_c", [pyx], extra_link_args=link,
                    extra_compile_args=compile_args)
    try:
        return cythonize([ext], compiler_directives=directives, language_level=3)
    except Exception:  # noqa: BLE001 - fall back to pure Python unless told otherwise
        if REQUIRED:
            raise
        print("imdb-edge: Cython failed; installing without the extension", file=sys.stderr)
        return []


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any failure falls back to pure Python
            if REQUIRED:
                raise
            print(f"imdb-edge: extension not built ({exc}); using pure Python", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            if REQUIRED:
                raise
            print(f"imdb-edge: {ext.name} not built ({exc}); using pure Python", file=sys.stderr)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
