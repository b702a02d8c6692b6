"""Ed25519 keys, did:key and key files (client/keys.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import base58
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from client import keys
from client.errors import InvalidEncoding, KeyFileError, SignatureError, UsageError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "keys_ed25519.json").read_text(encoding="utf-8")
)

# RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]

# w3c-ccg/did-method-key test-vectors/ed25519-x25519.json: seed -> publicKeyBase58 -> DID.
DID_KEY_SPEC = [
    ("00" * 32, "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
     "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"),
    ("00" * 31 + "01", "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
     "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"),
    ("00" * 31 + "02", "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
     "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf"),
    ("00" * 31 + "03", "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
     "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ"),
    ("00" * 31 + "04", "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
     "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL"),
]

# The did:key specification's running example (no seed given).
DID_KEY_SPEC_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


# --- Ed25519 -------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032)
def test_rfc8032_test_vectors(seed: str, public: str, message: str, signature: str) -> None:
    assert keys.public_key(bytes.fromhex(seed)).hex() == public
    assert keys.sign(bytes.fromhex(seed), bytes.fromhex(message)).hex() == signature
    keys.verify_signature(bytes.fromhex(public), bytes.fromhex(signature), bytes.fromhex(message))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["did"][-6:])
def test_generated_vectors_agree_with_cryptography(vector: dict[str, str]) -> None:
    seed, message = bytes.fromhex(vector["seed"]), bytes.fromhex(vector["message"])
    # Independent path: cryptography directly, base58 directly.
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    public = reference.public_key().public_bytes_raw()
    assert vector["public_key"] == public.hex()
    assert vector["signature"] == reference.sign(message).hex()
    assert vector["did"] == "did:key:z" + base58.b58encode(b"\xed\x01" + public).decode()
    # The code under test.
    assert keys.public_key(seed) == public
    assert keys.sign(seed, message).hex() == vector["signature"]
    assert keys.did_key(public) == vector["did"]
    assert keys.public_key_from_did(vector["did"]) == public
    keys.verify_signature(public, bytes.fromhex(vector["signature"]), message)


def test_every_bit_flip_of_a_signature_is_rejected() -> None:
    seed = bytes(range(32))
    public, message = keys.public_key(seed), b"flip me"
    signature = keys.sign(seed, message)
    for bit in range(len(signature) * 8):
        bad = bytearray(signature)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SignatureError):
            keys.verify_signature(public, bytes(bad), message)


def test_wrong_message_key_or_lengths_are_rejected() -> None:
    seed = bytes(range(32))
    public, signature = keys.public_key(seed), keys.sign(seed, b"m")
    with pytest.raises(SignatureError):
        keys.verify_signature(public, signature, b"n")
    with pytest.raises(SignatureError):
        keys.verify_signature(keys.public_key(bytes(32)), signature, b"m")
    with pytest.raises(SignatureError, match="64 bytes"):
        keys.verify_signature(public, signature[:-1], b"m")
    with pytest.raises(SignatureError, match="64 bytes"):
        keys.verify_signature(public, signature + b"\x00", b"m")
    with pytest.raises(SignatureError, match="32 bytes"):
        keys.verify_signature(public[:31], signature, b"m")
    with pytest.raises(SignatureError):
        keys.verify_signature(b"\xff" * 32, signature, b"m")  # not a valid point encoding


def test_private_inputs_are_checked() -> None:
    with pytest.raises(UsageError):
        keys.public_key(bytes(31))
    with pytest.raises(UsageError):
        keys.sign(bytes(33), b"m")
    with pytest.raises(UsageError):
        keys.sign(bytes(32), "text")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        keys.did_key(bytes(31))


def test_generated_seeds_are_fresh() -> None:
    seeds = {keys.generate_seed() for _ in range(8)}
    assert len(seeds) == 8 and all(len(s) == 32 for s in seeds)


def test_key_object_caches_are_bounded_and_used() -> None:
    assert keys._public_key_refusal.cache_info().maxsize is not None
    assert keys._private_key_object.cache_info().maxsize is not None
    seed = bytes([7] * 32)
    public = keys.public_key(seed)
    signature = keys.sign(seed, b"x")
    keys.verify_signature(public, signature, b"x")
    before = keys._public_key_refusal.cache_info().hits
    keys.verify_signature(public, signature, b"x")
    assert keys._public_key_refusal.cache_info().hits == before + 1


def test_keypair_hides_the_seed() -> None:
    pair = keys.KeyPair.from_seed(bytes(32))
    assert pair.did == DID_KEY_SPEC[0][2]
    for text in (repr(pair), str(pair), f"{pair}"):
        assert "00" * 32 not in text and "seed" not in text
        assert pair.did in text
    keys.verify_signature(pair.public_key, pair.sign(b"hello"), b"hello")


def test_keypair_halves_must_match() -> None:
    with pytest.raises(UsageError):
        keys.KeyPair(bytes(32), keys.public_key(bytes([1] * 32)))
    generated = keys.KeyPair.generate()
    assert keys.KeyPair.from_seed(generated.seed) == generated


# --- did:key --------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "public_b58", "did"), DID_KEY_SPEC)
def test_did_key_specification_vectors(seed: str, public_b58: str, did: str) -> None:
    public = keys.public_key(bytes.fromhex(seed))
    assert public == base58.b58decode(public_b58)
    assert keys.did_key(public) == did
    assert keys.public_key_from_did(did) == public


def test_did_key_specification_example_round_trips() -> None:
    public = keys.public_key_from_did(DID_KEY_SPEC_EXAMPLE)
    assert len(public) == 32
    assert keys.did_key(public) == DID_KEY_SPEC_EXAMPLE


@pytest.mark.parametrize("case", VECTORS["invalid_dids"], ids=lambda c: c["why"])
def test_invalid_dids_are_rejected(case: dict[str, str]) -> None:
    with pytest.raises(InvalidEncoding):
        keys.public_key_from_did(case["did"])


def test_did_errors_say_what_is_wrong() -> None:
    good = DID_KEY_SPEC[0][2]
    with pytest.raises(InvalidEncoding, match="fragment"):
        keys.public_key_from_did(good + "#key-1")
    x25519 = "did:key:z" + base58.b58encode(b"\xec\x01" + bytes(32)).decode()
    with pytest.raises(InvalidEncoding, match="not Ed25519"):
        keys.public_key_from_did(x25519)
    # A leading '1' is base58 for a leading zero byte, which breaks the multicodec prefix.
    with pytest.raises(InvalidEncoding, match="prefix 00ed is not Ed25519"):
        keys.public_key_from_did("did:key:z1" + good[len("did:key:z") :])
    with pytest.raises(InvalidEncoding, match="too long"):
        keys.public_key_from_did(good + "z" * 100)
    with pytest.raises(InvalidEncoding):
        keys.public_key_from_did(b"did:key:z6Mk")  # type: ignore[arg-type]


# --- key files ----------------------------------------------------------------------------


def test_key_file_round_trip_and_format(tmp_path: Path) -> None:
    path = tmp_path / "validator.key"
    seed = bytes(range(32))
    old_umask = os.umask(0)  # the mode must be 0600 even when the umask allows more
    try:
        keys.write_key_file(path, seed)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(data, password=None)  # independent reader
    assert isinstance(loaded, Ed25519PrivateKey)
    assert loaded.private_bytes_raw() == seed
    assert keys.read_key_file(path) == keys.KeyPair.from_seed(seed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validator.key"]  # no temp file left


def test_key_file_written_by_another_tool_is_read(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes([9] * 32))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    path.chmod(0o400)
    assert keys.read_key_file(str(path)).seed == bytes([9] * 32)


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    keys.write_key_file(path, bytes(32))
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        keys.write_key_file(path, bytes([1] * 32))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem"]


def test_key_file_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot create"):
        keys.write_key_file(tmp_path / "nope" / "k.pem", bytes(32))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610, 0o601])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    keys.write_key_file(path, bytes(32))
    path.chmod(mode)
    with pytest.raises(KeyFileError) as caught:
        keys.read_key_file(path)
    assert f"chmod 600 {path}" in str(caught.value)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_bad_key_files_are_refused_with_their_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(KeyFileError, match="does not exist") as caught:
        keys.read_key_file(missing)
    assert str(missing) in str(caught.value)

    garbage = _write(tmp_path / "garbage.pem", b"not a key\n")
    with pytest.raises(KeyFileError, match="not a PEM private key") as caught:
        keys.read_key_file(garbage)
    assert str(garbage) in str(caught.value)

    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        keys.read_key_file(_write(tmp_path / "p256.pem", p256))

    encrypted = Ed25519PrivateKey.from_private_bytes(bytes(32)).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    with pytest.raises(KeyFileError, match="encrypted"):
        keys.read_key_file(_write(tmp_path / "enc.pem", encrypted))

    huge = _write(tmp_path / "huge.pem", b"x" * (keys.MAX_KEY_FILE_SIZE + 1))
    with pytest.raises(KeyFileError, match="larger than"):
        keys.read_key_file(huge)

    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        keys.read_key_file(directory)

    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):  # and does not hang
        keys.read_key_file(fifo)

    public_only = Ed25519PublicKey.from_public_bytes(keys.public_key(bytes(32))).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFileError):
        keys.read_key_file(_write(tmp_path / "pub.pem", public_only))
