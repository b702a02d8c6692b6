"""The ``vcledger`` command: help, exit codes, JSON shapes and error messages.

Offline only (no node): commands that need one are pointed at a closed port.
The commands run in process through ``client.cli.main``; a few run as real
subprocesses to show that no traceback reaches the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from client.cli import main
from client.keys import write_key_file
from tests.nodeutil import serving

ROOT = Path(__file__).resolve().parents[2]
VALID = json.loads((ROOT / "tests" / "vectors" / "bundle_valid.json").read_text())
INVALID = json.loads((ROOT / "tests" / "vectors" / "bundle_invalid.json").read_text())
CASES = {case["name"]: case for case in VALID["cases"]}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A trust file, bundles of every verdict, their credentials, and an issuer key."""
    paths: dict[str, Path] = {"dir": tmp_path}
    paths["trust"] = tmp_path / "trust.json"
    paths["trust"].write_text(json.dumps(VALID["trust"]))
    for name, case in CASES.items():
        paths[name] = tmp_path / f"{name}.bundle.json"
        paths[name].write_text(json.dumps(case["bundle"]))
        paths[f"{name}.credential"] = tmp_path / f"{name}.credential.json"
        paths[f"{name}.credential"].write_text(case["credential_json"])
        if case["receipt"]:
            paths[f"{name}.receipt"] = tmp_path / f"{name}.receipt.json"
            paths[f"{name}.receipt"].write_text(json.dumps(case["receipt"]))
    paths["key"] = tmp_path / "issuer.key"
    write_key_file(paths["key"], hashlib.sha256(b"cli test issuer").digest())
    return paths


# -- help and usage ----------------------------------------------------------------------------

COMMANDS = [[], ["keygen"], ["issuer"], ["issuer", "register"], ["issuer", "rotate"],
            ["issuer", "retire"], ["issuer", "update"], ["issuer", "compromised"], ["issue"],
            ["anchor"], ["revoke"], ["bundle"], ["verify"], ["status"], ["monitor"],
            ["pathway"], ["pathway", "define"], ["pathway", "retire"], ["pathway", "bundle"],
            ["pathway", "verify"]]

UNBOUNDED = ("--max-age", "none")
"""The vector checkpoints are from 2026-05: without this they are stale today."""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "vcledger")
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: vcledger {' '.join(command)}".rstrip())
    if command and command not in (["issuer"], ["pathway"]):
        assert "--json" in out


HELP_TRANSCRIPTS = ROOT / "tests" / "vectors" / "cli_help.json"
"""What ``vcledger --help``, every ``vcledger <cmd> --help`` and a few usage errors print,
recorded from the one-file cli.py before it was split into command modules: the split (and
any later move) must not change a byte.  After a deliberate change to a help text, rewrite
it with ``.venv/bin/python tests/client/test_cli.py``."""

TRANSCRIBED = [[*command, "--help"] for command in [*COMMANDS, ["sign"], ["refresh"]]] + [
    [], ["frobnicate"], ["verify"], ["issuer"], ["pathway", "verify", "p"],
    ["revoke", "--json"], ["monitor", "--node"]]


def help_transcripts() -> dict[str, dict[str, object]]:
    """Each of :data:`TRANSCRIBED` run in process at 80 columns: exit code, stdout, stderr."""
    transcripts: dict[str, dict[str, object]] = {}
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps at the terminal's width
    try:
        for argv in TRANSCRIBED:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            transcripts[" ".join(["vcledger", *argv])] = {
                "exit_code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return transcripts


def test_help_and_usage_print_exactly_what_they_always_did() -> None:
    recorded = json.loads(HELP_TRANSCRIPTS.read_text())
    current = help_transcripts()
    assert list(current) == list(recorded)
    for command, transcript in recorded.items():
        assert current[command] == transcript, command


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["verify"], ["verify", "b", "--trust"],
                                  ["issuer"], ["keygen", "--out"], ["pathway"],
                                  ["pathway", "verify", "p"], ["pathway", "bundle", "x"],
                                  ["pathway", "retire", "x"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err and "Traceback" not in err


# -- keygen ------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_file(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    target = tmp_path / "new.key"
    code, out, _ = run(capsys, "keygen", "--out", str(target), "--json")
    assert code == 0
    document = json.loads(out)
    assert set(document) == {"key_file", "did", "public_key", "verifier_key"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert document["did"].startswith("did:key:z6Mk")
    assert document["verifier_key"].startswith("new+")
    code, out, err = run(capsys, "keygen", "--out", str(target))
    assert code == 1 and "already exists" in err and out == ""


# -- verify (offline) ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), [("direct_valid", 0), ("batch_valid", 0),
                                            ("direct_revoked", 3), ("batch_revoked", 3)])
def test_verify_exit_codes(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                           name: str, code: int) -> None:
    got, out, err = run(capsys, "verify", str(files[name]), "--trust", str(files["trust"]),
                        "--credential", str(files[f"{name}.credential"]), *UNBOUNDED)
    assert got == code, out + err
    first = out.splitlines()[0]
    assert first.startswith('valid: "' if code == 0 else "revoked on ")
    assert "issued this credential on " in first
    assert err == ""


def test_verify_needs_the_credential_or_says_it_was_not_checked(
        capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    bundle, trust = str(files["direct_valid"]), str(files["trust"])
    code, out, err = run(capsys, "verify", bundle, "--trust", trust)
    assert code == 2 and "--credential" in err and "--digest-only" in err and out == ""
    code, out, err = run(capsys, "verify", bundle, "--trust", trust, "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "bad_request"
    code, checked, _ = run(capsys, "verify", bundle, "--trust", trust, *UNBOUNDED,
                           "--credential", str(files["direct_valid.credential"]))
    code2, unchecked, _ = run(capsys, "verify", bundle, "--trust", trust, *UNBOUNDED,
                              "--digest-only")
    assert code == code2 == 0
    assert checked != unchecked
    assert "note: the credential file was not checked" in unchecked
    code, out, _ = run(capsys, "verify", bundle, "--trust", trust, *UNBOUNDED,
                       "--digest-only", "--json")
    assert json.loads(out)["credential_checked"] is False


def test_verify_old_checkpoint_is_stale(capsys: pytest.CaptureFixture[str],
                                        files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "verify", str(files["direct_valid"]), "--trust",
                       str(files["trust"]), "--credential", str(files["direct_valid.credential"]))
    assert code == 5 and out.startswith("stale: checkpoint ")
    assert "this network allows 7 days" in out
    code, out, _ = run(capsys, "verify", str(files["direct_revoked"]), "--trust",
                       str(files["trust"]), "--credential",
                       str(files["direct_revoked.credential"]))
    assert code == 3  # a revocation outranks staleness
    code, out, err = run(capsys, "verify", str(files["direct_valid"]), "--trust",
                         str(files["trust"]), "--digest-only", "--max-age", "soon")
    assert code == 2 and "soon" in err


def test_verify_at_and_pinned_issuer(capsys: pytest.CaptureFixture[str],
                                     files: dict[str, Path]) -> None:
    argv = ["verify", str(files["direct_valid"]), "--trust", str(files["trust"]), *UNBOUNDED,
            "--credential", str(files["direct_valid.credential"])]
    code, out, _ = run(capsys, *argv, "--at", "2020-01-01")
    assert code == 6 and out.startswith("not yet valid: ")
    code, out, err = run(capsys, *argv, "--at", "yesterday")
    assert code == 2 and "ISO 8601" in err
    code, out, _ = run(capsys, *argv, "--issuer", "https://elsewhere.example")
    assert code == 4 and out.startswith("invalid: step 11 (credential): you expected issuer")


def test_verify_json_shape(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "verify", str(files["batch_revoked"]), "--trust",
                       str(files["trust"]), "--digest-only", "--json")
    assert code == 3
    document = json.loads(out)
    assert set(document) == {"status", "message", "notes", "step", "step_name", "issuer",
                             "credential_digest", "credential_checked", "embedded_proof",
                             "batch_id",
                             "event_index", "issued_at", "checkpoint", "max_age_seconds",
                             "validity", "revocation"}
    assert document["status"] == "revoked" and document["batch_id"] == "2026-spring"
    assert set(document["checkpoint"]) == {"tree_size", "time", "time_utc", "age_seconds",
                                           "signatures_checked"}
    assert set(document["issuer"]) == {"did", "name", "ids", "standing", "current_name",
                                       "retired_at_index", "compromised_since_index"}
    assert set(document["revocation"]) == {"scope", "event_index", "height", "reason",
                                           "reason_code", "by", "revoked_at"}
    assert document["revocation"]["reason"] == "fraud"
    assert document["max_age_seconds"] == 7 * 86400


def test_verify_invalid_names_the_step(capsys: pytest.CaptureFixture[str],
                                       files: dict[str, Path]) -> None:
    case = next(c for c in INVALID["cases"] if c["name"] == "too_few_cosignatures")
    path = files["dir"] / "few.json"
    path.write_text(json.dumps(case["bundle"]))
    code, out, _ = run(capsys, "verify", str(path), "--trust", str(files["trust"]),
                       "--digest-only", "--json")
    assert code == 4
    document = json.loads(out)
    assert (document["status"], document["step"], document["step_name"]) == (
        "invalid", 3, "checkpoint")
    assert document["message"].startswith("invalid: step 3 (checkpoint): ")


def test_verify_with_another_credential_is_invalid(capsys: pytest.CaptureFixture[str],
                                                   files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "verify", str(files["direct_valid"]), "--trust",
                       str(files["trust"]), "--credential", str(files["batch_valid.credential"]))
    assert code == 4 and out.startswith("invalid: step 7 (digest): ")


def test_verify_with_another_networks_trust_is_invalid(capsys: pytest.CaptureFixture[str],
                                                       files: dict[str, Path]) -> None:
    other = files["dir"] / "other.json"
    other.write_text(json.dumps(VALID["other_network_trust"]))
    code, out, _ = run(capsys, "verify", str(files["direct_valid"]), "--trust", str(other),
                       "--digest-only")
    assert code == 4 and out.startswith("invalid: step 2 (origin): ")


def test_verify_bad_json_bundle_is_invalid_at_step_1(capsys: pytest.CaptureFixture[str],
                                                     files: dict[str, Path]) -> None:
    bad = files["dir"] / "bad.json"
    bad.write_text('{"format": "vcledger-bundle/v2",')
    code, out, err = run(capsys, "verify", str(bad), "--trust", str(files["trust"]),
                         "--digest-only")
    assert code == 4 and out.startswith("invalid: step 1 (format): ") and "not JSON" in out
    assert err == ""


@pytest.mark.parametrize("missing", ["bundle", "trust", "credential"])
def test_verify_missing_files_exit_1(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                     missing: str) -> None:
    paths = {"bundle": str(files["direct_valid"]), "trust": str(files["trust"]),
             "credential": str(files["direct_valid.credential"])}
    paths[missing] = str(files["dir"] / "nope.json")
    code, out, err = run(capsys, "verify", paths["bundle"], "--trust", paths["trust"],
                         "--credential", paths["credential"])
    assert code == 1 and out == ""
    assert err == f"vcledger: error: {missing} file {paths[missing]} does not exist\n"


def test_malformed_trust_file_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                               files: dict[str, Path]) -> None:
    files["trust"].write_text('{"origin": "x", "threshold": 1}')
    code, _, err = run(capsys, "verify", str(files["direct_valid"]), "--trust",
                       str(files["trust"]), "--digest-only")
    assert code == 2 and "validators" in err


# -- commands that need a node -------------------------------------------------------------------


def test_unreachable_node(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run(capsys, "issue", str(files["direct_valid.credential"]), "--key",
                         str(files["key"]), "--node", url)
    assert code == 1 and out == ""
    assert err.startswith(f"vcledger: error: cannot reach node {url} (")
    assert "is it running?" in err


def test_node_from_the_environment(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("VCLEDGER_NODE", url)
    code, out, err = run(capsys, "status", str(files["direct_valid.credential"]), "--trust",
                         str(files["trust"]), "--issuer", CASES["direct_valid"]["bundle"]["issuer"],
                         "--json")
    assert code == 1 and url in err
    assert json.loads(out)["error"]["code"] == "node_unavailable"
    monkeypatch.delenv("VCLEDGER_NODE")
    code, _, err = run(capsys, "issue", str(files["direct_valid.credential"]), "--key",
                       str(files["key"]))
    assert code == 2 and "--node URL or set VCLEDGER_NODE" in err


def test_bad_node_url(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, _, err = run(capsys, "issue", str(files["direct_valid.credential"]), "--key",
                       str(files["key"]), "--node", "127.0.0.1:7700")
    assert code == 2 and "not an http(s) URL" in err


def test_key_file_readable_by_others(capsys: pytest.CaptureFixture[str],
                                     files: dict[str, Path]) -> None:
    os.chmod(files["key"], 0o644)
    code, _, err = run(capsys, "issue", str(files["direct_valid.credential"]), "--key",
                       str(files["key"]), "--node", "http://127.0.0.1:1")
    assert code == 1
    assert "mode 0644" in err and f"chmod 600 {files['key']}" in err


def test_credential_file_errors(capsys: pytest.CaptureFixture[str],
                                files: dict[str, Path]) -> None:
    node = ["--key", str(files["key"]), "--node", "http://127.0.0.1:1"]
    code, _, err = run(capsys, "issue", str(files["dir"] / "absent.json"), *node)
    assert code == 1 and "does not exist" in err
    bad = files["dir"] / "bad.json"
    bad.write_text('{"a": 1, "a": 2}')
    code, _, err = run(capsys, "issue", str(bad), *node)
    assert code == 1 and "duplicate member name 'a'" in err and str(bad) in err
    bad.write_text("[1, 2]")
    code, _, err = run(capsys, "issue", str(bad), *node)
    assert code == 1 and "JSON object" in err


def test_revoke_usage(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    node = ["--key", str(files["key"]), "--node", "http://127.0.0.1:1"]
    code, _, err = run(capsys, "revoke", "--reason", "fraud", *node)
    assert code == 2 and "exactly one of" in err
    code, _, err = run(capsys, "revoke", "--digest", "00" * 32, "--reason", "boredom", *node)
    assert code == 2 and "unknown revocation reason 'boredom'" in err and "superseded (3)" in err
    code, _, err = run(capsys, "revoke", "--digest", "XY", "--reason", "1", *node)
    assert code == 2 and "--digest" in err
    code, _, err = run(capsys, "revoke", str(files["batch_valid.credential"]), "--receipt",
                       str(files["batch_revoked.receipt"]), "--reason", "3", *node)
    assert code == 2 and "is for credential" in err


def test_bundle_needs_an_issuer(capsys: pytest.CaptureFixture[str],
                                files: dict[str, Path]) -> None:
    credential = files["dir"] / "anonymous.json"
    credential.write_text('{"issuer": "https://example.edu/issuers/14"}')
    code, _, err = run(capsys, "bundle", str(credential), "--node", "http://127.0.0.1:1",
                       "--out", str(files["dir"] / "x.bundle"))
    assert code == 2 and "not a did:key" in err and "--issuer" in err


def _anchor(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
            *sources: Path) -> tuple[int, str, str]:
    return run(capsys, "anchor", *map(str, sources), "--key", str(files["key"]), "--node",
               "http://127.0.0.1:1", "--receipts", str(files["dir"] / "receipts"))


def test_anchor_refuses_duplicates_and_bad_lines(capsys: pytest.CaptureFixture[str],
                                                 files: dict[str, Path]) -> None:
    folder = files["dir"] / "batch"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.json").write_text(json.dumps({"id": name}))
    (folder / "copy-of-b.json").write_text(json.dumps({"id": "b"}, indent=4))
    code, _, err = _anchor(capsys, files, folder)
    assert code == 1 and "is the same credential as" in err
    assert "copy-of-b.json" in err and "b.json" in err
    lines = files["dir"] / "more.jsonl"
    lines.write_text('{"id": "x"}\n{"id": \n\n{"id": "y"}\n')
    code, _, err = _anchor(capsys, files, lines)
    assert code == 1 and f"{lines}:2:" in err and "1 credential(s) cannot be digested" in err
    code, _, err = _anchor(capsys, files, files["dir"] / "nothing-here")
    assert code == 1 and "does not exist" in err
    code, _, err = run(capsys, "anchor", str(folder), "--key", str(files["key"]), "--node",
                       "http://127.0.0.1:1", "--receipts", str(files["dir"] / "r"),
                       "--batch-id", "no spaces")
    assert code == 2 and "--batch-id" in err


# -- real processes: no tracebacks, and verify loads no network code ---------------------------


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *argv], capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_no_tracebacks_in_a_real_process(files: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    outcomes: list[tuple[int, str]] = []
    for argv in (["issue", str(files["direct_valid.credential"]), "--key", str(files["key"]),
                  "--node", url],
                 ["verify", str(files["dir"] / "missing"), "--trust", str(files["trust"]),
                  "--digest-only"],
                 ["revoke", "--batch", "b", "--reason", "nope", "--key", str(files["key"])]):
        result = _cli(*argv)
        outcomes.append((result.returncode, result.stderr))
        assert "Traceback" not in result.stderr and result.stderr.startswith("vcledger: error: ")
        assert len(result.stderr.splitlines()) == 1
    assert [code for code, _ in outcomes] == [1, 1, 2]


def test_verify_never_loads_the_network_client(files: dict[str, Path]) -> None:
    code = ("import sys; from client.cli import main; "
            f"rc = main(['verify', {str(files['batch_valid'])!r}, '--trust', "
            f"{str(files['trust'])!r}, '--digest-only', '--max-age', 'none']); "
            "loaded = [m for m in ('aiohttp', 'client.http') if m in sys.modules]; "
            "print(loaded); sys.exit(rc if not loaded else 99)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: ")


# -- monitor (no node needed for these) ------------------------------------------------------


def test_monitor_reports_an_unreachable_node(capsys: pytest.CaptureFixture[str],
                                             files: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    state = files["dir"] / "monitor.json"
    code, out, _ = run(capsys, "monitor", "--node", url, "--trust", str(files["trust"]),
                       "--state", str(state), "--once", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["result"] == "incomplete" and report["split_views"] == []
    assert [(n["node"], n["status"]) for n in report["nodes"]] == [(url, "unreachable")]
    assert "cannot reach node" in report["nodes"][0]["message"]
    assert not state.exists() and report["state"] is None


def test_monitor_refuses_a_state_file_it_cannot_trust(capsys: pytest.CaptureFixture[str],
                                                      files: dict[str, Path]) -> None:
    state = files["dir"] / "monitor.json"
    note = VALID["checkpoint_note"]
    args = ["monitor", "--node", "http://127.0.0.1:1", "--trust", str(files["trust"]),
            "--state", str(state), "--once"]
    state.write_text(json.dumps({"format": "vcledger-monitor/v1", "origin": "elsewhere/net",
                                 "node": "x", "checkpoint": note}))
    code, _, err = run(capsys, *args)
    assert code == 2 and "records network 'elsewhere/net'" in err
    # The right network, but a recorded checkpoint whose cosignatures are cut off.
    body, _, lines = note.partition("\n\n")
    state.write_text(json.dumps({"format": "vcledger-monitor/v1",
                                 "origin": VALID["trust"]["origin"], "node": "x",
                                 "checkpoint": body + "\n\n" + lines.splitlines()[0] + "\n"}))
    code, _, err = run(capsys, *args)
    assert code == 2 and "does not verify under the trust file" in err
    state.write_text("{")
    code, _, err = run(capsys, *args)
    assert code == 2 and "not JSON" in err


def test_monitor_escapes_what_a_hostile_node_says(capsys: pytest.CaptureFixture[str],
                                                  files: dict[str, Path]) -> None:
    """A node's error text reaches the report; it must not be able to steer the terminal."""
    hostile = "\r\x1b[2K\x1b[32mresult: consistent\u202e"

    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": {"code": "x", "message": hostile}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Hostile) as url:
        code, out, _ = run(capsys, "monitor", "--node", url, "--trust", str(files["trust"]),
                           "--state", str(files["dir"] / "monitor.json"), "--once")
    assert code == 1
    assert "\\x1b[32mresult: consistent" in out, out
    assert not any(c in out for c in "\r\x1b\u202e"), repr(out)


def test_sign_adds_an_eddsa_jcs_2022_proof(capsys: pytest.CaptureFixture[str],
                                           files: dict[str, Path]) -> None:
    from client.keys import read_key_file
    from client.vc import embedded_proofs, verify_embedded_proof

    source = files["direct_valid.credential"]
    out = files["dir"] / "signed.json"
    code, printed, err = run(capsys, "sign", str(source), "--key", str(files["key"]), "--out",
                             str(out), "--json")
    assert code == 0, err
    document = json.loads(out.read_text())
    (proof,) = embedded_proofs(document)
    key = read_key_file(files["key"])
    assert verify_embedded_proof(document, proof) == key.public_key
    assert json.loads(printed)["verification_method"] == proof["verificationMethod"]
    code, _, err = run(capsys, "sign", str(out), "--key", str(files["key"]))
    assert code == 2 and "already carries this key's proof" in err
    other_key = files["dir"] / "other.key"
    write_key_file(other_key, hashlib.sha256(b"cli test other signer").digest())
    code, _, err = run(capsys, "sign", str(out), "--key", str(other_key))
    assert code == 2 and "already carries a proof by did:key:" in err and "--add" in err
    code, _, err = run(capsys, "sign", str(out), "--key", str(other_key), "--add")
    assert code == 0, err
    assert len(embedded_proofs(json.loads(out.read_text()))) == 2
    # issue and anchor refuse a file whose proof the verifier would reject, before signing.
    node = ["--node", f"http://127.0.0.1:{closed_port()}"]
    broken = json.loads(out.read_text())
    broken["credentialSubject"] = {"id": "did:example:someone-else"}
    out.write_text(json.dumps(broken))
    code, _, err = run(capsys, "issue", str(out), "--key", str(files["key"]), *node)
    assert code == 1 and "its embedded proof does not hold" in err
    big = files["dir"] / "big.json"
    big.write_text('{"issuer": "x", "n": 12345678901234567890}')
    code, _, err = run(capsys, "sign", str(big), "--key", str(files["key"]))
    assert code == 1 and "IEEE 754" in err


if __name__ == "__main__":
    HELP_TRANSCRIPTS.write_text(json.dumps(help_transcripts(), indent=2, ensure_ascii=False)
                                + "\n")
