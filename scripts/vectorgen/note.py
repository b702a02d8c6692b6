"""Vectors for keys, did:key, signed notes, checkpoints and tlog proofs.

Every key comes from a fixed seed, every timestamp is a constant, and
Ed25519 is deterministic, so the files are byte-identical on every run.
Valid cases are made by client code; every invalid case is made by hand
(one mutation of a valid case, or bytes signed directly with
``cryptography``) and names the error a verifier must raise, so the tests
check the code against the generator's intent, not against itself.
"""

from __future__ import annotations

import base64
import hashlib

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client import checkpoint, keys, note, tlogproof

NETWORK = "vcledger.example/testnet"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, the cosignature time of most vectors


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"vcledger test vector key {label}".encode()).digest()


def _raw_sign(seed: bytes, message: bytes) -> bytes:
    # Directly through cryptography, for signatures client code refuses to make.
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {_b64(raw)}\n"


def _hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


VALIDATORS = [(f"validator-{n}.vcledger.example", _seed(f"validator-{n}")) for n in range(4)]
ISSUER = ("issuer.vcledger.example", _seed("issuer"))
OUTSIDER = ("outsider.example", _seed("outsider"))


def _cosign_vkey(name: str, seed: bytes) -> str:
    return note.verifier_key(name, keys.public_key(seed), sig_type=note.SIG_COSIGNATURE_V1)


def _ed_vkey(name: str, seed: bytes) -> str:
    return note.verifier_key(name, keys.public_key(seed))


# --- keys_ed25519.json -------------------------------------------------------------


def _keys() -> dict[str, object]:
    vectors = []
    for label, message in [
        ("alice", b""),
        ("bob", b"vcledger"),
        ("carol", bytes(range(256))),
    ]:
        seed = _seed(label)
        vectors.append(
            {
                "seed": seed.hex(),
                "public_key": keys.public_key(seed).hex(),
                "did": keys.did_key(keys.public_key(seed)),
                "message": message.hex(),
                "signature": keys.sign(seed, message).hex(),
            }
        )
    good = keys.did_key(keys.public_key(_seed("alice")))
    x25519 = "did:key:z" + base58.b58encode(b"\xec\x01" + bytes(32)).decode()
    short = "did:key:z" + base58.b58encode(b"\xed\x01" + bytes(31)).decode()
    invalid_dids = [
        {"did": good + "#" + good[len("did:key:") :], "why": "DID URL fragment"},
        {"did": " " + good, "why": "leading whitespace"},
        {"did": good + "\n", "why": "trailing newline"},
        {"did": "did:key:" + good[len("did:key:z") :], "why": "no multibase prefix"},
        {"did": "did:key:m" + _b64(b"\xed\x01" + bytes(32)), "why": "multibase base64"},
        {"did": "did:web:example.com", "why": "another DID method"},
        {"did": "DID:KEY:" + good[len("did:key:") :], "why": "upper-case method"},
        {"did": x25519, "why": "X25519 multicodec 0xec01"},
        {"did": short, "why": "31-byte key"},
        {"did": "did:key:z1" + good[len("did:key:z") :], "why": "leading-zero base58 digit"},
        {"did": good[:-1] + "0", "why": "'0' is not base58"},
        {"did": good + "1", "why": "extra base58 digit"},
        {"did": "did:key:z", "why": "empty key"},
    ]
    return {
        "description": "Ed25519 (RFC 8032) keys from fixed seeds, their did:key, and "
        "one signature each; then did:key strings public_key_from_did must reject "
        "with InvalidEncoding.",
        "vectors": vectors,
        "invalid_dids": invalid_dids,
    }


# --- note_vectors.json ---------------------------------------------------------------


def _notes() -> dict[str, object]:
    issuer_name, issuer_seed = ISSUER
    v_name, v_seed = VALIDATORS[0]
    out_name, out_seed = OUTSIDER
    issuer_vkey = _ed_vkey(issuer_name, issuer_seed)
    v_cosign_vkey = _cosign_vkey(v_name, v_seed)
    out_vkey = _ed_vkey(out_name, out_seed)

    body = "vcledger note vector\nwith two lines\n"
    poem = (  # the text of the C2SP signed-note example: a blank line and non-ASCII
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n\ned è subito sera.\n"
    )
    signed = note.sign(body, issuer_name, issuer_seed)
    sig_line = signed[len(body) + 1 :]
    cosig_line = note.cosign(body, v_name, v_seed, T0)
    outsider_line = note.sign(body, out_name, out_seed)[len(body) + 1 :]

    valid = [
        {
            "name": "one_ed25519_signature",
            "note": signed,
            "verifier_keys": [issuer_vkey],
            "body": body,
            "signers": [[issuer_name, None]],
            "ignored_unknown": 0,
        },
        {
            "name": "ed25519_and_cosignature",
            "note": body + "\n" + sig_line + cosig_line,
            "verifier_keys": [issuer_vkey, v_cosign_vkey],
            "body": body,
            "signers": [[issuer_name, None], [v_name, T0]],
            "ignored_unknown": 0,
        },
        {
            "name": "unknown_key_ignored",
            "note": body + "\n" + outsider_line + sig_line,
            "verifier_keys": [issuer_vkey],
            "body": body,
            "signers": [[issuer_name, None]],
            "ignored_unknown": 1,
        },
        {
            "name": "duplicate_line_counted_once",
            "note": body + "\n" + sig_line + sig_line,
            "verifier_keys": [issuer_vkey],
            "body": body,
            "signers": [[issuer_name, None]],
            "ignored_unknown": 0,
        },
        {
            "name": "blank_lines_and_unicode_in_body",
            "note": note.sign(poem, issuer_name, issuer_seed),
            "verifier_keys": [issuer_vkey],
            "body": poem,
            "signers": [[issuer_name, None]],
            "ignored_unknown": 0,
        },
        {
            "name": "cosignature_at_time_zero",
            "note": body + "\n" + note.cosign(body, v_name, v_seed, 0),
            "verifier_keys": [v_cosign_vkey],
            "body": body,
            "signers": [[v_name, 0]],
            "ignored_unknown": 0,
        },
        {
            "name": "cosignature_at_max_time",
            "note": body + "\n" + note.cosign(body, v_name, v_seed, note.MAX_TIMESTAMP),
            "verifier_keys": [v_cosign_vkey],
            "body": body,
            "signers": [[v_name, note.MAX_TIMESTAMP]],
            "ignored_unknown": 0,
        },
    ]

    # Hand-made invalid notes.  The signature line of the issuer, decoded.
    raw = base64.b64decode(sig_line.split(" ")[2])
    flipped = bytearray(raw)
    flipped[20] ^= 0x01
    outsider_raw = bytearray(base64.b64decode(outsider_line.split(" ")[2]))
    outsider_raw[30] ^= 0x01
    bad_outsider_line = _line(out_name, bytes(outsider_raw))
    wrong_id = bytearray(raw)
    wrong_id[0] ^= 0x80
    public_v = keys.public_key(v_seed)
    v_id = hashlib.sha256(v_name.encode() + b"\n\x04" + public_v).digest()[:4]

    def cosig_raw(timestamp: int, message_time: str) -> bytes:
        message = f"cosignature/v1\ntime {message_time}\n{body}".encode()
        return v_id + timestamp.to_bytes(8, "big") + _raw_sign(v_seed, message)

    non_canonical_b64 = sig_line.split(" ")[2].rstrip("\n")
    assert non_canonical_b64.endswith("=") and not non_canonical_b64.endswith("==")
    last = non_canonical_b64[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked = alphabet[alphabet.index(last) ^ 1]
    non_canonical_b64 = non_canonical_b64[:-2] + tweaked + "="

    ed_keys = [issuer_vkey]
    co_keys = [v_cosign_vkey]
    invalid = [
        ("no_blank_line", body + sig_line, ed_keys, "InvalidEncoding"),
        ("no_signature_lines", body + "\n", ed_keys, "InvalidEncoding"),
        ("ascii_hyphen", body + "\n" + "-" + sig_line[1:], ed_keys, "InvalidEncoding"),
        ("en_dash", body + "\n" + "\u2013" + sig_line[1:], ed_keys, "InvalidEncoding"),
        ("crlf", (body + "\n" + sig_line).replace("\n", "\r\n"), ed_keys, "InvalidEncoding"),
        ("last_line_without_newline", body + "\n" + sig_line[:-1], ed_keys, "InvalidEncoding"),
        ("control_character_in_body", "\x01" + signed, ed_keys, "InvalidEncoding"),
        ("tab_in_body", "a\t" + signed, ed_keys, "InvalidEncoding"),
        ("trailing_text_line", signed + "Unexpected line.\n", ed_keys, "InvalidEncoding"),
        ("bad_base64", signed.replace(sig_line[-10:], "!" + sig_line[-9:]), ed_keys,
         "InvalidEncoding"),
        ("base64_missing_padding", signed[:-2] + "\n", ed_keys, "InvalidEncoding"),
        ("base64_non_canonical_bits",
         body + "\n" + f"\u2014 {issuer_name} {non_canonical_b64}\n", ed_keys, "InvalidEncoding"),
        ("name_with_plus", body + "\n" + _line("issuer+x", raw), ed_keys, "InvalidEncoding"),
        ("name_with_space", body + "\n" + _line("Bad Name", raw), ed_keys, "InvalidEncoding"),
        ("name_with_nbsp", body + "\n" + _line("Bad\u00a0Name", raw), ed_keys,
         "InvalidEncoding"),
        ("empty_name", body + "\n" + "\u2014  " + _b64(raw) + "\n", ed_keys, "InvalidEncoding"),
        ("signature_too_short", body + "\n" + _line(issuer_name, raw[:4]), ed_keys,
         "InvalidEncoding"),
        ("too_many_signatures", body + "\n" + sig_line * 101, ed_keys, "InvalidEncoding"),
        ("only_unknown_keys", body + "\n" + outsider_line, ed_keys, "SignatureError"),
        ("wrong_key_id", body + "\n" + _line(issuer_name, bytes(wrong_id)), ed_keys,
         "SignatureError"),
        ("known_key_bit_flip", body + "\n" + _line(issuer_name, bytes(flipped)), ed_keys,
         "SignatureError"),
        ("known_key_bad_next_to_good",
         body + "\n" + sig_line + bad_outsider_line,
         [*ed_keys, out_vkey], "SignatureError"),
        ("signed_other_body", "another body\n\n" + sig_line, ed_keys, "SignatureError"),
        ("ed25519_key_given_cosignature", body + "\n" + cosig_line,
         [_ed_vkey(v_name, v_seed)], "SignatureError"),
        ("cosignature_huge_timestamp",
         body + "\n" + _line(v_name, cosig_raw(2**63, str(2**63))), co_keys, "SignatureError"),
        ("cosignature_max_uint64_timestamp",
         body + "\n" + _line(v_name, cosig_raw(2**64 - 1, str(2**64 - 1))), co_keys,
         "SignatureError"),
        ("cosignature_leading_zero_timestamp",
         body + "\n" + _line(v_name, cosig_raw(T0, "0" + str(T0))), co_keys, "SignatureError"),
        ("cosignature_time_mismatch",
         body + "\n" + _line(v_name, cosig_raw(T0 + 1, str(T0))), co_keys, "SignatureError"),
        ("cosignature_without_timestamp",
         body + "\n" + _line(v_name, v_id + _raw_sign(v_seed, body.encode())), co_keys,
         "SignatureError"),
    ]
    return {
        "description": "C2SP signed notes.  valid: open_note(note, verifier_keys) returns "
        "body, the signers (name, cosignature timestamp or null) in order, and the count "
        "of distinct ignored lines by unknown keys.  invalid: open_note raises the named "
        "client.errors class.",
        "verifier_keys": {
            "issuer_ed25519": issuer_vkey,
            "validator_cosignature": v_cosign_vkey,
            "outsider_ed25519": out_vkey,
        },
        "valid": valid,
        "invalid": [
            {"name": name, "note": text, "verifier_keys": vkeys, "error": error}
            for name, text, vkeys, error in invalid
        ],
    }


# --- checkpoint_vectors.json ------------------------------------------------------------


def _checkpoints() -> dict[str, object]:
    empty_root = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = SHA-256()
    root = _hash("root 9")
    valid = [
        {"origin": NETWORK, "tree_size": 0, "root": empty_root.hex()},
        {"origin": NETWORK, "tree_size": 9, "root": root.hex()},
        {"origin": "réseau.example/ü", "tree_size": 2**64 - 1, "root": bytes(32).hex()},
        {"origin": "x", "tree_size": 1, "root": (b"\xff" * 32).hex()},
    ]
    for case in valid:
        case["body"] = checkpoint.format_checkpoint(
            str(case["origin"]), int(str(case["tree_size"])), bytes.fromhex(str(case["root"]))
        )
    good = checkpoint.format_checkpoint(NETWORK, 9, root)
    root_line = _b64(root)
    url_safe_root = _b64(b"\xfb" * 32).replace("+", "-").replace("/", "_")
    invalid = [
        ("extension_line", good + "extension\n"),
        ("empty_extension_line", good + "\n"),
        ("two_lines", f"{NETWORK}\n9\n"),
        ("no_final_newline", good[:-1]),
        ("empty_origin", f"\n9\n{root_line}\n"),
        ("origin_with_tab", f"a\tb\n9\n{root_line}\n"),
        ("origin_with_cr", f"{NETWORK}\r\n9\n{root_line}\n"),
        ("leading_zero", f"{NETWORK}\n09\n{root_line}\n"),
        ("zero_zero", f"{NETWORK}\n00\n{root_line}\n"),
        ("plus_sign", f"{NETWORK}\n+9\n{root_line}\n"),
        ("minus_sign", f"{NETWORK}\n-9\n{root_line}\n"),
        ("space_before_size", f"{NETWORK}\n 9\n{root_line}\n"),
        ("hex_size", f"{NETWORK}\n0x9\n{root_line}\n"),
        ("unicode_digit", f"{NETWORK}\n\u0669\n{root_line}\n"),
        ("size_2_64", f"{NETWORK}\n{2**64}\n{root_line}\n"),
        ("root_31_bytes", f"{NETWORK}\n9\n{_b64(root[:31])}\n"),
        ("root_33_bytes", f"{NETWORK}\n9\n{_b64(root + b'x')}\n"),
        ("root_unpadded", f"{NETWORK}\n9\n{root_line.rstrip('=')}\n"),
        ("root_url_safe", f"{NETWORK}\n9\n{url_safe_root}\n"),
        ("root_hex", f"{NETWORK}\n9\n{root.hex()}\n"),
        ("origin_256_bytes", f"{'o' * 256}\n9\n{root_line}\n"),
    ]

    # Threshold cases: 4 validators, policy 3 of 4.
    trusted = [_cosign_vkey(name, seed) for name, seed in VALIDATORS]
    body = good

    def cosigs(*indices: int, at: int = T0) -> str:
        return "".join(note.cosign(body, *VALIDATORS[i], at) for i in indices)

    outsider = note.cosign(body, *OUTSIDER, T0)
    other_origin = checkpoint.format_checkpoint("other.example/log", 9, root)
    other_cosigs = "".join(note.cosign(other_origin, *VALIDATORS[i], T0) for i in range(4))
    v0_seed = VALIDATORS[0][1]
    alias_vkey = _cosign_vkey("alias-of-validator-0.example", v0_seed)
    alias_line = note.cosign(body, "alias-of-validator-0.example", v0_seed, T0)
    tampered = bytearray(base64.b64decode(cosigs(2).split(" ")[2]))
    tampered[-1] ^= 0x01
    bad_v2 = _line(VALIDATORS[2][0], bytes(tampered))

    def case(name: str, text: str, outcome: str, *, threshold: int = 3,
             verifiers: list[str] | None = None, origin: str = NETWORK,
             now: int | None = None, cosigners: list[int] | None = None) -> dict[str, object]:
        return {
            "name": name,
            "note": text,
            "origin": origin,
            "verifier_keys": trusted if verifiers is None else verifiers,
            "threshold": threshold,
            "now": now,
            "outcome": outcome,
            "cosigners": cosigners,
        }

    policy = [
        case("all_four", body + "\n" + cosigs(0, 1, 2, 3), "valid", cosigners=[0, 1, 2, 3]),
        case("three_of_four", body + "\n" + cosigs(3, 1, 0), "valid", cosigners=[3, 1, 0]),
        case("two_of_four", body + "\n" + cosigs(0, 1), "SignatureError"),
        case("duplicate_line", body + "\n" + cosigs(0, 1, 1), "SignatureError"),
        case("same_key_two_times", body + "\n" + cosigs(0, 1) + cosigs(1, at=T0 + 60),
             "SignatureError"),
        case("non_validator_not_counted", body + "\n" + cosigs(0, 1) + outsider,
             "SignatureError"),
        case("non_validator_ignored", body + "\n" + outsider + cosigs(0, 1, 2), "valid",
             cosigners=[0, 1, 2]),
        case("alias_of_one_key_counts_once", body + "\n" + cosigs(0, 1) + alias_line,
             "SignatureError", verifiers=[*trusted, alias_vkey]),
        case("bad_cosignature_rejects_note", body + "\n" + cosigs(0, 1, 3) + bad_v2,
             "SignatureError"),
        case("wrong_origin", other_origin + "\n" + other_cosigs, "VerificationError"),
        case("extension_line", body + "ext\n" + "\n" + cosigs(0, 1, 2), "InvalidEncoding"),
        case("future_cosignature_not_counted",
             body + "\n" + cosigs(0, 1) + cosigs(2, at=T0 + 3600),
             "SignatureError", now=T0),
        case("slightly_future_cosignature_counted",
             body + "\n" + cosigs(0, 1) + cosigs(2, at=T0 + 60),
             "valid", now=T0, cosigners=[0, 1, 2]),
        case("threshold_one", body + "\n" + cosigs(2), "valid", threshold=1, cosigners=[2]),
    ]
    return {
        "description": "C2SP checkpoints.  valid: format_checkpoint(origin, tree_size, root) "
        "== body and parse_checkpoint(body) gives the fields back.  invalid: "
        "parse_checkpoint raises InvalidEncoding.  policy: verify_checkpoint(note, origin, "
        "verifier_keys, threshold, now=now) gives 'valid' with the listed validators (by "
        "index into validator_keys) as cosigners, or raises the named class.",
        "validator_keys": trusted,
        "valid": valid,
        "invalid": [{"name": name, "body": text} for name, text in invalid],
        "policy": policy,
    }


# --- tlogproof_vectors.json ---------------------------------------------------------------


def _tlog_proofs() -> dict[str, object]:
    issuer_name, issuer_seed = ISSUER
    root = _hash("tlog proof root")
    cp8 = note.sign(checkpoint.format_checkpoint(NETWORK, 8, root), issuer_name, issuer_seed)
    cp1 = note.sign(checkpoint.format_checkpoint(NETWORK, 1, root), issuer_name, issuer_seed)
    path = [_hash(f"sibling {n}") for n in range(3)]
    valid = [
        {
            "index": index,
            "proof": [h.hex() for h in proof],
            "checkpoint_note": cp,
            "extra": None if extra is None else extra.hex(),
            "text": tlogproof.format_tlog_proof(index, proof, cp, extra),
        }
        for index, proof, cp, extra in [
            (5, path, cp8, None),
            (0, [], cp1, None),
            (7, path, cp8, b"bundle-v1"),
        ]
    ]
    lines = "\n".join(_b64(h) for h in path)
    head = "c2sp.org/tlog-proof@v1\n"
    bad_cp = checkpoint.format_checkpoint(NETWORK, 8, root) + "ext\n"
    invalid = [
        ("wrong_header", "c2sp.org/tlog-proof@v2\nindex 5\n" + lines + "\n\n" + cp8),
        ("no_header", "index 5\n" + lines + "\n\n" + cp8),
        ("leading_zero_index", head + "index 05\n" + lines + "\n\n" + cp8),
        ("negative_index", head + "index -5\n" + lines + "\n\n" + cp8),
        ("missing_index", head + lines + "\n\n" + cp8),
        ("index_after_hashes", head + lines + "\nindex 5\n\n" + cp8),
        ("index_equals_tree_size", head + "index 8\n" + lines + "\n\n" + cp8),
        ("extra_after_index", head + "index 5\nextra AAAA\n" + lines + "\n\n" + cp8),
        ("empty_extra", head + "extra \nindex 5\n" + lines + "\n\n" + cp8),
        ("extra_unpadded", head + "extra YQ\nindex 5\n" + lines + "\n\n" + cp8),
        ("hash_31_bytes", head + "index 5\n" + _b64(path[0][:31]) + "\n\n" + cp8),
        ("hash_not_base64", head + "index 5\n" + path[0].hex() + "\n\n" + cp8),
        ("65_hashes", head + "index 5\n" + "\n".join([_b64(path[0])] * 65) + "\n\n" + cp8),
        ("no_blank_line", head + "index 5\n" + lines + "\n" + cp8),
        ("checkpoint_without_signature", head + "index 5\n" + lines + "\n\n"
         + checkpoint.format_checkpoint(NETWORK, 8, root)),
        ("checkpoint_with_extension",
         head + "index 5\n" + lines + "\n\n" + note.sign(bad_cp, issuer_name, issuer_seed)),
        ("crlf", (head + "index 5\n" + lines + "\n\n").replace("\n", "\r\n") + cp8),
    ]
    return {
        "description": "C2SP tlog-proof@v1.  valid: format_tlog_proof(index, proof, "
        "checkpoint_note, extra) == text and parse_tlog_proof(text) gives them back.  "
        "invalid: parse_tlog_proof raises InvalidEncoding.",
        "valid": valid,
        "invalid": [{"name": name, "text": text} for name, text in invalid],
    }


def generate() -> dict[str, object]:
    return {
        "keys_ed25519.json": _keys(),
        "note_vectors.json": _notes(),
        "checkpoint_vectors.json": _checkpoints(),
        "tlogproof_vectors.json": _tlog_proofs(),
    }
