#!/usr/bin/env python3
"""Write client/schemas/pathway.schema.json from the definition model (client.pathway).

Usage: .venv/bin/python scripts/gen_pathway_schema.py
tests/client/test_pathway.py fails while the shipped file differs from the model's schema.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client.pathway import SCHEMA_RESOURCE, format_schema  # noqa: E402

if __name__ == "__main__":
    target = ROOT / "client" / SCHEMA_RESOURCE
    target.write_text(format_schema())
    print(f"wrote {target.relative_to(ROOT)}")
