"""The compiled HTTP/1.1 fast path, built from source when a C compiler is there.

``optional=True``: where it cannot be built (no compiler, no Python headers) the
install goes on without it and gturret.http reads every response in Python
(gturret/http/_connection.py), the same behaviour, slower. Everything else is
declared in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gturret.http._fastpath",
            ["gturret/http/_fastpath.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
