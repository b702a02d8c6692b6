"""Ed25519 keys (RFC 8032), did:key identifiers, and key files.

A private key is the 32-byte RFC 8032 seed (RFC 8032 §5.1.5 expands it into
the scalar and prefix); a public key is the 32-byte encoded point.  Signatures
are the 64-byte RFC 8032 §5.1.6 output.  Ed25519 is deterministic, so the same
seed and message always give the same signature.

Verification is the one Ed25519 rule of docs/protocol.md §3.1.1, in
:func:`verify_signature` and nowhere else: every node, signature worker and
offline verifier must accept exactly the same signatures, or honest validators
disagree on a block.  libsodium (PyNaCl) checks the equation, because it is
about twice as fast as OpenSSL here and refuses the edge cases the rule
refuses; explicit byte checks in front of it (non-canonical ``S``, ``R`` and
``A``, small-order ``R`` and ``A``) and a self-test of the equation at import
keep the rule exact whatever libsodium build is loaded.  ``cryptography``
(OpenSSL) still derives public keys, signs and reads key files; its parsed
private keys are kept in a small LRU cache keyed by the seed.

did:key (W3C CCG did:key method, Ed25519 only) is
``"did:key:z" + base58btc(0xed 0x01 || public key)``: ``z`` is the multibase
prefix of base58btc and ``0xed 0x01`` is the unsigned-varint multicodec code
0xed (ed25519-pub).  :func:`public_key_from_did` accepts exactly that one
string form.

Key files hold the seed as unencrypted PKCS#8 PEM (RFC 8410 §7,
``-----BEGIN PRIVATE KEY-----``), readable by ``openssl pkey``.  They are
created with mode 0600 and refused when group or others may read them.
"""

from __future__ import annotations

import functools
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import base58
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from client.errors import InvalidEncoding, KeyFileError, SignatureError, UsageError
from client.files import write_atomically

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

DID_KEY_PREFIX = "did:key:z"
"""did:key method prefix followed by the multibase code of base58btc."""

ED25519_MULTICODEC = b"\xed\x01"
"""Unsigned-varint encoding of multicodec 0xed (ed25519-pub)."""

MAX_DID_LENGTH = 64
"""Longer than any Ed25519 did:key (56 characters); checked before decoding."""

MAX_KEY_FILE_SIZE = 16 * 1024
"""A PKCS#8 Ed25519 PEM is 119 bytes; anything near this cap is not a key file."""

_BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


# --- raw Ed25519 -------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _private_key_object(seed: bytes) -> Ed25519PrivateKey:
    # A node signs with one or two keys all its life; the cache saves the
    # seed expansion (a SHA-512 and a scalar multiplication) on every vote.
    return Ed25519PrivateKey.from_private_bytes(seed)


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
        size = len(seed) if isinstance(seed, (bytes, bytearray)) else type(seed).__name__
        raise UsageError(f"an Ed25519 private key is a {SEED_SIZE}-byte seed, got {size}")


def generate_seed() -> bytes:
    """Return a fresh private key: 32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_SIZE)


def public_key(seed: bytes) -> bytes:
    """Return the 32-byte public key of ``seed`` (RFC 8032 §5.1.5)."""
    _check_seed(seed)
    return _private_key_object(seed).public_key().public_bytes_raw()


def sign(seed: bytes, message: bytes) -> bytes:
    """Sign ``message`` with the key whose seed is ``seed`` (RFC 8032 §5.1.6).

    Precondition: ``message`` is the complete, domain-separated byte string the
    protocol defines; this function adds no context of its own.
    """
    _check_seed(seed)
    if not isinstance(message, bytes):
        raise UsageError(f"message must be bytes, got {type(message).__name__}")
    return _private_key_object(seed).sign(message)


FIELD_PRIME = 2**255 - 19
"""p: the field of edwards25519 (RFC 8032 §5.1)."""

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
"""L: the order of the prime-order subgroup (RFC 8032 §5.1)."""

_Y_MASK = (1 << 255) - 1
"""The y coordinate of an encoded point: all but the top bit (the sign of x)."""

_SMALL_ORDER_Y = frozenset({
    0,                   # (±sqrt(-1), 0), order 4
    1,                   # the identity (0, 1)
    FIELD_PRIME - 1,     # (0, -1), order 2
    2707385501144840649318225287225658788936804267575313519463743609750303402022,   # order 8
    55188659117513257062467267217118295137698188065244968500265048394206261417927,  # order 8
    FIELD_PRIME,         # 0 written non-canonically
    FIELD_PRIME + 1,     # 1 written non-canonically
})
"""Every y that a point of order 1, 2, 4 or 8 encodes with, canonical or not.

The eight small-order points have five y values; y + p fits in 255 bits only
for y = 0 and y = 1.  The sign bit is ignored, as libsodium's blacklist does,
so all fourteen encodings of small-order points are refused by y alone."""


def _point_y(encoded: bytes) -> int:
    return int.from_bytes(encoded, "little") & _Y_MASK


@functools.lru_cache(maxsize=4096)
def _public_key_refusal(public_key: bytes) -> str | None:
    # Cached because the same few hundred issuer and validator keys recur;
    # the answer is a pure function of the 32 bytes.
    y = _point_y(public_key)
    if y >= FIELD_PRIME:
        return "is not canonically encoded (y >= p)"
    if y in _SMALL_ORDER_Y:
        return "is a point of small order"
    return None


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Check an Ed25519 signature under the rule of docs/protocol.md §3.1.1.

    Raises :class:`SignatureError` saying why if it does not hold.  That rule
    is RFC 8032 §5.1.7 with the cofactorless equation, plus: ``S < L``;
    ``A`` and ``R`` canonically encoded (``y < p``) and not of small order.
    Cheap checks come first: lengths, then the encodings (pure integer
    comparisons), and only then the curve arithmetic.  A public key that does
    not decode to a curve point is reported like a wrong signature: either
    way the data is not authentic.
    """
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise SignatureError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        size = len(signature) if isinstance(signature, (bytes, bytearray)) else "not bytes"
        raise SignatureError(f"an Ed25519 signature is {SIGNATURE_SIZE} bytes, got {size}")
    if not isinstance(message, bytes):
        raise SignatureError(f"a signed message is bytes, got {type(message).__name__}")
    refusal = _public_key_refusal(public_key)
    if refusal is not None:
        raise SignatureError(f"Ed25519 public key {public_key.hex()} {refusal}")
    # libsodium makes the same three checks; making them here too keeps the
    # rule exact under a libsodium build that does not (see _check_equation).
    if int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        raise SignatureError("Ed25519 signature refused: its S is not below the group order L")
    r = _point_y(signature[:32])
    if r >= FIELD_PRIME:
        raise SignatureError("Ed25519 signature refused: its R is not canonically encoded")
    if r in _SMALL_ORDER_Y:
        raise SignatureError("Ed25519 signature refused: its R is a point of small order")
    try:
        # crypto_sign_open is crypto_sign_verify_detached on signature || message
        # (PyNaCl exposes no detached verify); the concatenation is one memcpy.
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        raise SignatureError(
            f"Ed25519 signature does not verify under key {public_key.hex()}"
        ) from None


def _check_equation() -> None:
    """Refuse to run with a libsodium whose verification equation is not the rule's.

    The encoding checks above are ours, but the equation is libsodium's.
    Released libsodium (1.0.18 to 1.0.22) checks the cofactorless
    ``encode([S]B - [k]A) == R``; its development branch has, since November
    2022, checked the cofactored ``[8](R - [S]B + [k]A) == 0`` instead, which
    accepts signatures the rule refuses.  Two ed25519-speccheck vectors
    (tests/vectors/ed25519_edge_cases.json, cases 3 and 4) tell them apart:
    both equations hold for the first, only the cofactored one for the second.
    """
    mixed_key = bytes.fromhex("cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d")
    both = (bytes.fromhex("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79"),
            bytes.fromhex("9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f"
                          "87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"))
    cofactored_only = (
        bytes.fromhex("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c"),
        bytes.fromhex("160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
                      "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"))

    def holds(case: tuple[bytes, bytes]) -> bool:
        message, signature = case
        try:
            crypto_sign_open(signature + message, mixed_key)
        except BadSignatureError:
            return False
        return True

    if not holds(both) or holds(cofactored_only):
        raise ImportError(
            "the libsodium that PyNaCl loaded does not verify Ed25519 with the cofactorless "
            "equation of docs/protocol.md §3.1.1, so this node or verifier would disagree "
            "with the others; install PyNaCl's own wheel (pip install --force-reinstall pynacl)")


_check_equation()


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 seed with its public key.  The seed never appears in ``repr``.

    Build it with :meth:`generate` or :meth:`from_seed`; direct construction
    checks that the two halves belong together.
    """

    seed: bytes = field(repr=False)
    public_key: bytes

    def __post_init__(self) -> None:
        _check_seed(self.seed)
        if public_key(self.seed) != self.public_key:
            raise UsageError("KeyPair: public_key is not the public key of seed")

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_seed(generate_seed())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        return cls(seed, public_key(seed))

    @property
    def did(self) -> str:
        """The did:key identifier of the public key."""
        return did_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return sign(self.seed, message)

    def __repr__(self) -> str:
        return f"KeyPair(did={self.did!r})"


# --- did:key -----------------------------------------------------------------


def did_key(public_key: bytes) -> str:
    """Return the did:key of an Ed25519 public key (did:key method, Ed25519 section)."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise UsageError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    return DID_KEY_PREFIX + base58.b58encode(ED25519_MULTICODEC + public_key).decode("ascii")


_DID_KEYS: dict[str, bytes] = {}
_DID_KEYS_MAX = 4096


def public_key_from_did(did: str) -> bytes:
    """Return the Ed25519 public key named by ``did`` (see :func:`_parse_did_key`).

    Every event names its issuer's DID, so a node parses the same few DIDs
    again and again; the base58 round trip dominated decoding an event.  Only
    successful parses are remembered, in a bounded table.
    """
    if isinstance(did, str):
        known = _DID_KEYS.get(did)
        if known is not None:
            return known
    public_key = _parse_did_key(did)
    if len(_DID_KEYS) >= _DID_KEYS_MAX:
        _DID_KEYS.clear()
    _DID_KEYS[did] = public_key
    return public_key


def _parse_did_key(did: str) -> bytes:
    """Return the Ed25519 public key named by ``did``.

    Accepts only ``did:key:z<base58btc(0xed 0x01 || 32-byte key)>`` in its
    canonical form: no DID URL parts (``#fragment``, ``?query``, ``/path``),
    no whitespace, no other multibase or multicodec, no alternative base58
    spelling (the decoded bytes are re-encoded and compared).
    """
    if not isinstance(did, str):
        raise InvalidEncoding(f"a did:key must be a string, got {type(did).__name__}")
    if len(did) > MAX_DID_LENGTH:
        raise InvalidEncoding(f"{did[:MAX_DID_LENGTH]!r}... is too long for an Ed25519 did:key")
    if not did.startswith(DID_KEY_PREFIX):
        if did.startswith("did:key:"):
            raise InvalidEncoding(
                f"{did!r}: only multibase base58btc ('z') did:key identifiers are supported"
            )
        raise InvalidEncoding(f"{did!r} is not a did:key (it must start with {DID_KEY_PREFIX!r})")
    encoded = did[len(DID_KEY_PREFIX) :]
    if "#" in encoded:
        raise InvalidEncoding(f"{did!r}: a DID URL fragment ('#...') is not a did:key; drop it")
    bad = sorted(set(encoded) - _BASE58_ALPHABET)
    if bad:
        raise InvalidEncoding(f"{did!r}: characters {''.join(bad)!r} are not base58btc")
    raw = base58.b58decode(encoded)
    if base58.b58encode(raw).decode("ascii") != encoded:
        raise InvalidEncoding(f"{did!r}: base58btc is not in canonical form")
    if raw[:2] != ED25519_MULTICODEC:
        raise InvalidEncoding(
            f"{did!r}: multicodec prefix {raw[:2].hex()} is not Ed25519 (ed01); "
            "only Ed25519 did:key identifiers are supported"
        )
    if len(raw) != len(ED25519_MULTICODEC) + PUBLIC_KEY_SIZE:
        raise InvalidEncoding(
            f"{did!r}: Ed25519 key is {len(raw) - len(ED25519_MULTICODEC)} bytes, "
            f"expected {PUBLIC_KEY_SIZE}"
        )
    return raw[len(ED25519_MULTICODEC) :]


# --- key files -----------------------------------------------------------------


def write_key_file(path: str | os.PathLike[str], seed: bytes) -> None:
    """Write ``seed`` as an unencrypted PKCS#8 PEM file with mode 0600.

    Never overwrites: an existing ``path`` raises :class:`KeyFileError`.  The
    file appears complete or not at all, and is never readable by others
    (:func:`client.files.write_atomically` with ``overwrite=False, private=True``).
    """
    _check_seed(seed)
    target = Path(path)
    pem = _private_key_object(seed).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        write_atomically(target, pem, overwrite=False, private=True)
    except FileExistsError:
        raise KeyFileError(f"key file {target} already exists; not overwriting it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {target}: {exc.strerror}") from exc


def read_key_file(path: str | os.PathLike[str]) -> KeyPair:
    """Load a key file written by :func:`write_key_file` or ``openssl genpkey -algorithm ed25519``.

    Raises :class:`KeyFileError`, naming ``path``, if the file is missing, not
    a regular file, readable or writable by group or others, larger than
    :data:`MAX_KEY_FILE_SIZE`, encrypted, malformed, or not an Ed25519 key.
    """
    target = Path(path)
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang us; fstat rejects it below.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise KeyFileError(f"key file {target} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot open key file {target}: {exc.strerror}") from exc
    try:
        # fstat the open descriptor, not the path, so the checked file is the read one.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {target} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"key file {target} has mode {stat.S_IMODE(info.st_mode):04o}, which lets "
                f"group or others access it; run: chmod 600 {target}"
            )
        data = os.read(fd, MAX_KEY_FILE_SIZE + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {target}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"key file {target} is larger than {MAX_KEY_FILE_SIZE} bytes")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise KeyFileError(
            f"key file {target} is encrypted; vcledger key files are unencrypted PKCS#8"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"key file {target} is not a PEM private key: {exc}") from exc
    except InternalError as exc:
        # OpenSSL refuses some well-formed PKCS#8 it cannot load (an X448 key of the
        # wrong length) with an error cryptography does not classify.
        raise KeyFileError(f"key file {target} holds a private key OpenSSL cannot load; "
                           "vcledger key files hold an Ed25519 key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {target} holds a {type(key).__name__}, not an Ed25519 key")
    return KeyPair.from_seed(key.private_bytes_raw())
