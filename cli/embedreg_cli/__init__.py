"""The ``embedreg`` command line: a thin click + rich view over :mod:`embedreg`."""
