"""Anchoring a batch: from credential files to receipts, around one ``batch.anchor`` event.

The pipeline ``vcledger anchor`` runs, in order: :func:`collect_sources` finds the
credential files; :func:`digest_all` digests each credential (a process pool for
large batches) and notes the issuer it names and its embedded proofs' keys;
:func:`check_duplicates`, :func:`check_named_issuers` and :func:`check_proof_keys`
refuse, before anything is signed, a batch the verifier would call invalid; after
the event is committed, :func:`write_receipts` writes one receipt per credential
and then ``index.jsonl``.  The checks and the formatting are pure; reading the
files and writing the receipts are the two I/O edges.  The command itself (key,
node, signing) stays in :mod:`client.cli`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from client import credentials
from client.batch import MAX_BATCH_SIZE, BatchTree
from client.bundle import format_batch_receipts
from client.errors import InvalidEncoding, UsageError
from client.files import InputFileError, read_input_file, write_output_file
from client.hashes import Hash
from client.keys import KeyPair, did_key
from client.status import IssuerRecord

PARALLEL_DIGEST_THRESHOLD = 4000
DIGEST_CHUNK = 1000
WRITE_CHUNK = 2000
RECEIPT_WRITERS = 4

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Source:
    """Where one credential of a batch came from: a file, or a line of a JSON Lines file."""

    path: str
    line: int | None

    @property
    def label(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


def collect_sources(paths: Sequence[str]) -> list[Path]:
    """The credential files named: files as given, folders' .json and .jsonl files by name."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            with os.scandir(path) as entries:
                found = sorted(entry.name for entry in entries
                               if entry.name.endswith((".json", ".jsonl")) and entry.is_file())
            if not found:
                raise InputFileError(f"folder {path} holds no .json or .jsonl files")
            files.extend(path / name for name in found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError(f"{path} does not exist")
    return files


Digested = tuple[bytes | None, str | None, str | None, tuple[bytes, ...]]
"""(digest, error, the issuer the credential names, the keys of its verified embedded
eddsa-jcs-2022 proofs) of one credential; plain values, so process-pool workers can
return them."""


def digest_credential(data: bytes) -> Digested:
    """Digest one credential and check its embedded proofs (``vcledger issue`` uses it too)."""
    from client import vc  # noqa: PLC0415 - loaded where credentials are digested

    try:
        document = credentials.parse_credential(data)
        digest = credentials.digest_document(document)  # I-JSON checked on the way
        keys: list[bytes] = []
        for proof in vc.embedded_proofs(document):
            try:
                keys.append(vc.verify_embedded_proof(document, proof))
            except vc.UnsupportedProof:
                continue  # the verifier names it as not checked; nothing to refuse
    except vc.EmbeddedProofError as exc:
        return None, f"its embedded proof does not hold: {exc.diagnostics()}", None, ()
    except InvalidEncoding as exc:
        return None, exc.diagnostics(), None, ()
    return digest, None, credentials.named_issuer(document), tuple(keys)


def digest_files(paths: list[str]) -> list[Digested]:
    """Digest credential files (a process-pool task: top level, plain values)."""
    results: list[Digested] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read(credentials.MAX_CREDENTIAL_SIZE + 1)
        except OSError as exc:
            results.append((None, f"cannot read: {exc.strerror}", None, ()))
            continue
        results.append(digest_credential(data))
    return results


def digest_lines(lines: list[bytes]) -> list[Digested]:
    """Digest JSON Lines entries (a process-pool task)."""
    return [digest_credential(line) for line in lines]


def check_proof_keys(signer: KeyPair, keys: Sequence[tuple[str, tuple[bytes, ...]]]) -> None:
    """Refuse credentials whose embedded proof is by another key than the one signing the
    event: the verifier wants the issuer's key at the event, and would call them invalid."""
    wrong = [(label, key) for label, found in keys for key in found if key != signer.public_key]
    if not wrong:
        return
    shown = "; ".join(f"{label} is signed by {did_key(key)}" for label, key in wrong[:5])
    more = f" (and {len(wrong) - 5} more)" if len(wrong) > 5 else ""
    files = "1 credential carries" if len(wrong) == 1 else f"{len(wrong)} credentials carry"
    raise InputFileError(
        f"{files} an embedded proof that the verifier would refuse, by another key than the "
        f"issuer key signing this event (whose own did:key is {signer.did}): {shown}{more}. "
        "Have the file signed again with this key: remove its `proof` member and run "
        "vcledger sign; nothing was signed")


def check_named_issuers(record: IssuerRecord, named: Sequence[tuple[str, str | None]]) -> None:
    """Refuse credentials whose ``issuer`` is neither the signing DID nor one of the
    identifiers governance registered for it: the verifier would call them invalid.

    ``named`` pairs a label (file, or file:line) with the issuer the credential names.
    """
    allowed = {record.issuer, *record.ids}
    wrong = [(label, issuer) for label, issuer in named if issuer not in allowed]
    if not wrong:
        return
    shown = "; ".join(f"{label} names {issuer or 'no issuer'}" for label, issuer in wrong[:5])
    more = f" (and {len(wrong) - 5} more)" if len(wrong) > 5 else ""
    ids = ", ".join(record.ids) or "none registered"
    files = "1 credential does" if len(wrong) == 1 else f"{len(wrong)} credentials do"
    raise InputFileError(
        f"{files} not name this issuer: {shown}{more}. Issuer "
        f"{record.issuer} (\"{record.name}\") may be named by its did:key or by its "
        f"identifiers ({ids}); nothing was signed")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _progress(show: bool, total: int, what: str) -> Any:
    from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415 - anchor only

    return tqdm(total=total, desc=what, unit="cred", file=sys.stderr, leave=False,
                disable=not show)


def digest_all(files: list[Path], *, workers: int | None, show_progress: bool
               ) -> tuple[list[Source], list[bytes], list[tuple[str, str | None]],
                          list[tuple[str, tuple[bytes, ...]]]]:
    """Digest every credential: .json files whole, .jsonl files line by line.

    Returns, in one order: where each credential came from, its digest, the issuer it
    names (labelled), and the keys of its verified embedded proofs (labelled).  Large
    batches are digested in a process pool of up to ``workers`` (default 8) processes.
    """
    plain = [f for f in files if f.suffix != ".jsonl"]
    tasks: list[tuple[Callable[[Any], list[Digested]], list[Any]]] = []
    order: list[Source] = []
    for file_chunk in _chunks(plain, DIGEST_CHUNK):
        items = [str(p) for p in file_chunk]
        tasks.append((digest_files, items))
        order.extend(Source(p, None) for p in items)
    for path in (f for f in files if f.suffix == ".jsonl"):
        data = read_input_file(path, "JSON Lines file", 1 << 34)
        numbered = [(n, line) for n, line in enumerate(data.split(b"\n"), start=1)
                    if line.strip()]
        for chunk in _chunks(numbered, DIGEST_CHUNK):
            tasks.append((digest_lines, [line for _, line in chunk]))
            order.extend(Source(str(path), n) for n, _ in chunk)
    total = len(order)
    if total == 0:
        raise InputFileError("no credentials found in the given files")
    if total > MAX_BATCH_SIZE:
        raise UsageError(f"{total} credentials; a batch holds at most {MAX_BATCH_SIZE}")
    results: list[Digested] = []
    processes = min(os.cpu_count() or 1, workers or 8)
    with _progress(show_progress, total, "digesting") as bar:
        if total < PARALLEL_DIGEST_THRESHOLD or processes < 2:
            for function, items in tasks:
                done = function(items)
                results.extend(done)
                bar.update(len(done))
        else:
            with ProcessPoolExecutor(max_workers=processes) as pool:
                futures = [pool.submit(function, items) for function, items in tasks]
                for future in futures:
                    done = future.result()
                    results.extend(done)
                    bar.update(len(done))
    problems = [f"{source.label}: {error}" for source, (_, error, _, _) in zip(order, results,
                                                                                 strict=True)
                if error is not None]
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InputFileError(f"{len(problems)} credential(s) cannot be digested: {shown}{more}")
    digests = [digest for digest, _, _, _ in results]
    assert all(d is not None for d in digests)
    named = [(source.label, issuer) for source, (_, _, issuer, _) in zip(order, results,
                                                                          strict=True)]
    keys = [(source.label, found) for source, (_, _, _, found) in zip(order, results,
                                                                       strict=True)]
    return order, digests, named, keys  # type: ignore[return-value]


def check_duplicates(order: list[Source], digests: list[bytes]) -> None:
    """Refuse a batch that holds one credential twice, naming both places."""
    if len(set(digests)) == len(digests):
        return
    seen: dict[bytes, Source] = {}
    for source, digest in zip(order, digests, strict=True):
        first = seen.setdefault(digest, source)
        if first is not source:
            raise InputFileError(f"{source.label} is the same credential as {first.label} "
                                 f"(digest {digest.hex()}); each credential goes in a batch once")


def _write_files(outdir: Path, files: list[tuple[str, bytes]]) -> None:
    """Create each file (a thread-pool task: the system calls release the GIL)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for name, data in files:
        fd = os.open(outdir / name, flags, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def write_receipts(outdir: Path, order: list[Source], digests: list[bytes], tree: BatchTree,
                   *, origin: str, issuer: str, batch_id: str, anchor_hash: Hash,
                   show_progress: bool) -> None:
    """Write OUTDIR/<digest>.json per credential, then OUTDIR/index.jsonl (renamed into
    place last, so its presence means every receipt was written)."""
    index_lines: list[str] = []
    pending: list[tuple[str, bytes]] = []
    with _progress(show_progress, len(digests), "writing receipts") as bar, \
            ThreadPoolExecutor(max_workers=RECEIPT_WRITERS) as pool:
        futures = []
        for receipt, text in format_batch_receipts(
                origin=origin, issuer=issuer, batch_id=batch_id, anchor_event_hash=anchor_hash,
                receipts=tree.receipts(), digests=digests):
            digest_hex = digests[receipt.index].hex()
            name = f"{digest_hex}.json"
            pending.append((name, text.encode("utf-8")))
            source = order[receipt.index]
            index_lines.append(index_line(source, receipt.index, digest_hex, name))
            if len(pending) == WRITE_CHUNK:
                futures.append(pool.submit(_write_files, outdir, pending))
                pending = []
        futures.append(pool.submit(_write_files, outdir, pending))
        for future in futures:
            try:
                future.result()
            except OSError as exc:
                raise InputFileError(f"cannot write receipts to {outdir}: {exc.strerror}") from exc
            bar.update(WRITE_CHUNK)
    write_output_file(outdir / "index.jsonl", "".join(index_lines))


def index_line(source: Source, index: int, digest_hex: str, receipt_name: str) -> str:
    """One line of ``index.jsonl``: where a credential came from and its receipt's name."""
    return (f'{{"source": {json.dumps(source.path)}, "line": '
            f'{"null" if source.line is None else source.line}, "index": {index}, '
            f'"digest": "{digest_hex}", "receipt": "{receipt_name}"}}\n')


def default_batch_id(root: Hash, now: dt.datetime) -> str:
    """The batch id used when none is given: the UTC date and the start of the root."""
    return f"{now:%Y%m%d}-{root.hex()[:12]}"
