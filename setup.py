"""The compiled part of msb: the columnar Avro decoder's executor (msb/avro/_columns.py, Cython in
pure-Python mode). Everything else is in pyproject.toml. Where no C compiler is available the
extension is skipped (optional) and the same module runs as plain Python."""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # building without Cython: the pure-Python module is used
    extensions = []
else:
    extensions = cythonize(
        [Extension("msb.avro._columns", ["msb/avro/_columns.py"], optional=True,
                   extra_compile_args=["-O3"])],
        language_level=3, quiet=True)

setup(ext_modules=extensions)
