#!/usr/bin/env python3
"""Regenerate tests/vectors/ from scripts/vectorgen/*.py.

Usage: .venv/bin/python scripts/gen_vectors.py [--check]

With --check nothing is written; the exit code says whether the files on disk
match what the generators produce.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def render(data: object) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def generated_files() -> dict[str, str]:
    # Imported here: scripts/vectorgen is only importable after the sys.path setup above.
    vectorgen = importlib.import_module("vectorgen")
    files: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(vectorgen.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"vectorgen.{module_info.name}")
        for name, data in module.generate().items():
            assert name not in files, f"two generators write {name}"
            files[name] = render(data)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = generated_files()
    stale = [name for name, text in files.items()
             if not (VECTORS / name).exists() or (VECTORS / name).read_text() != text]
    if args.check:
        for name in stale:
            print(f"stale: tests/vectors/{name}", file=sys.stderr)
        return 1 if stale else 0
    VECTORS.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (VECTORS / name).write_text(files[name])
        print(f"wrote tests/vectors/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
