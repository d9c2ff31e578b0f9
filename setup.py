"""Build the optional C speedups; tidal works without them (pure-Python fallbacks)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tidal.protocols.text._speedups",
            ["tidal/protocols/text/_speedups.c"],
            optional=True,
        ),
        Extension(
            "tidal.streams._speedups",
            ["tidal/streams/_speedups.c"],
            optional=True,  # no compiler or headers: install anyway, use the Python fallback
        )
    ]
)
