"""Writing files so a reader never sees half of one: the one atomic writer.

Output files (bundles, receipts' index, the checkpoint state) and key files all
go through :func:`write_atomically`: the bytes go to a fresh temporary file in
the target's directory, are flushed to disk, and the file is then renamed (or,
for files that must never be overwritten, hard-linked) into place, and the
directory is flushed so the new name survives a crash too.

Reading and writing the files a user names on the command line, with errors
that name them, lives here too (:func:`read_input_file`, :func:`write_output_file`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from client.errors import LedgerError

PRIVATE_MODE = 0o600
"""Owner read/write only: the mode of key files, set exactly whatever the umask."""


def write_atomically(path: Path, data: bytes, *, overwrite: bool = True,
                     private: bool = False) -> None:
    """Write ``data`` to ``path``; a crash leaves the old file (or none) or the complete new one.

    With ``overwrite=False`` an existing ``path`` is left alone and
    :class:`FileExistsError` is raised (the file is linked into place, which
    fails rather than replaces).  With ``private=True`` the file has mode
    exactly :data:`PRIVATE_MODE` from its first byte on; otherwise the usual
    0666 less the umask.  Raises :class:`OSError`; callers turn it into their
    own error naming the path.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL and O_NOFOLLOW: never write through a file or link someone planted.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 PRIVATE_MODE if private else 0o666)
    try:
        try:
            if private:
                # The umask can only clear bits; make the mode exactly 0600 anyway.
                os.fchmod(fd, PRIVATE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_directory(path.parent)


def write_text_atomically(path: Path, text: str) -> None:
    """:func:`write_atomically` for UTF-8 text, replacing any existing file."""
    write_atomically(path, text.encode("utf-8"))


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry durable; best effort, as some filesystems
    # do not allow opening a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# -- files named on the command line ------------------------------------------------------


class InputFileError(LedgerError):
    """A file named on the command line is missing, unreadable or malformed."""

    code = "bad_input_file"
    exit_code = 1


def read_input_file(path: str | Path, what: str, max_size: int) -> bytes:
    """The bytes of ``path``, at most ``max_size``; an :class:`InputFileError` naming
    ``what`` and the path if it is missing, a directory, unreadable or too large."""
    target = Path(path)
    try:
        with target.open("rb") as handle:
            data = handle.read(max_size + 1)
    except FileNotFoundError:
        raise InputFileError(f"{what} {target} does not exist") from None
    except IsADirectoryError:
        raise InputFileError(f"{what} {target} is a directory, not a file") from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {target}: {exc.strerror}") from exc
    if len(data) > max_size:
        raise InputFileError(f"{what} {target} is larger than {max_size} bytes")
    return data


def write_output_file(path: Path, text: str) -> None:
    """:func:`write_text_atomically`, failing with an :class:`InputFileError` naming ``path``."""
    try:
        write_text_atomically(path, text)
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror}") from exc
