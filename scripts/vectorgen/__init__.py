"""Test-vector generators: one module per protocol area, each with ``generate()``.

``generate()`` returns ``{file name: JSON-able data}``; everything is derived
from fixed seeds so regenerating gives byte-identical files, which
``tests/protocol/test_vectors_fresh.py`` checks.
"""
