"""Writing output files so a reader never sees half of one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, fsync and rename.

    A crash leaves either the old file or the complete new one.  Raises
    :class:`OSError`; callers turn it into their own error with the path.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
