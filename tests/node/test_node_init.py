"""``vcledger-node init``, ``keygen`` and ``genesis`` and the TOML writers behind them: a
bad origin is refused before anything touches the disk, a failure leaves no half-made
directory, whatever a name holds is quoted so the files read back as written, and a
consortium's genesis is assembled from verifier keys alone."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from client.errors import UsageError
from client.keys import KeyPair, read_key_file, write_key_file
from client.note import SIG_COSIGNATURE_V1, verifier_key
from client.trust import load_trust
from node import cli, localnet, provision
from node.config import load_genesis, load_node_config
from node.errors import ConfigError
from node.provision import genesis_toml, init_single_node, node_toml, origin_problem

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
FILES = {"genesis.toml", "node.toml", "validator.key", "governance.key", "trust.json"}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a directory)."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


# -- the origin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "fragment"),
    [
        ("université.example/net", "A-Z a-z 0-9"),  # the example
        ("example.org/my net", "A-Z a-z 0-9"),
        ("", "origin is empty"),
        ("example.org/\nnet", "control character"),
        ("x" * 201, "1..200 characters"),
        ("x" * 300, "at most 255"),
        ("-leading.dash", "A-Z a-z 0-9"),
    ],
)
def test_bad_origin_exits_2_and_leaves_nothing(tmp_path: Path, origin: str, fragment: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "new" / "net"
    assert cli.main(["init", "--dir", str(directory), f"--origin={origin}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vcledger-node: error: origin ")
    assert "cannot name a network" in err and fragment in err
    assert "Traceback" not in err and "AssertionError" not in err
    assert list(tmp_path.iterdir()) == []  # not even the parent directory


def test_bad_origin_leaves_an_existing_directory_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="cannot name a network"):
        init_single_node(tmp_path, origin="université.example/net", now=NOW)
    assert tree(tmp_path) == {"notes.txt": b"mine"}


def test_origin_problem_asks_both_rules() -> None:
    assert origin_problem("example.org/vcledger") is None
    assert origin_problem(provision.DEFAULT_ORIGIN) is None
    assert "control character" in (origin_problem("a\x7fb") or "")  # the checkpoint's rule
    assert "A-Z a-z 0-9" in (origin_problem("a b") or "")  # genesis.toml's rule


def test_bad_listen_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", "--dir", str(tmp_path / "net"), "--listen", "7700"]) == 2
    assert "--listen" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- a good init -------------------------------------------------------------------------


def test_init_round_trips_through_the_node_loaders(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b" / "net"
    genesis = init_single_node(directory, origin="uni.example/vcledger", listen="[::1]:7711",
                               now=NOW + dt.timedelta(microseconds=123))
    assert {p.name for p in directory.iterdir()} == FILES
    assert genesis == load_genesis(directory / "genesis.toml")
    assert genesis.origin == "uni.example/vcledger"
    assert genesis.genesis_time == NOW  # kept to the second
    assert [v.name for v in genesis.validators] == ["uni.example/vcledger/validator"]
    config = load_node_config(directory / "node.toml")
    assert (config.role, config.listen, config.peers) == ("validator", "[::1]:7711", [])
    assert config.genesis == (directory / "genesis.toml").resolve()
    assert config.key is not None
    validator = read_key_file(config.key)
    assert genesis.validators[0].public_key == KeyPair.from_seed(validator.seed).public_key
    governance = read_key_file(directory / "governance.key")
    assert genesis.governance[0].did == KeyPair.from_seed(governance.seed).did
    for key in ("validator.key", "governance.key"):
        assert stat.S_IMODE((directory / key).stat().st_mode) == 0o600
    assert load_trust(directory / "trust.json") == genesis.trust()


def test_init_keeps_the_explanatory_comments(tmp_path: Path) -> None:
    init_single_node(tmp_path, now=NOW)
    genesis_text = (tmp_path / "genesis.toml").read_text()
    assert genesis_text.startswith("# vcledger genesis file: identical on every node")
    assert "# A validator: votes in consensus and cosigns checkpoints" in genesis_text
    assert "# A governance key: governance registers issuers, sets their names and" in genesis_text
    assert "# Largest block, in events" in genesis_text
    node_text = (tmp_path / "node.toml").read_text()
    assert 'role = "validator"   # "validator" or "observer"' in node_text
    assert "# this node's validator key (mode 0600)" in node_text


def test_init_in_an_existing_directory_keeps_what_was_there(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("mine")
    init_single_node(tmp_path, now=NOW)
    assert {p.name for p in tmp_path.iterdir()} == FILES | {"README"}
    assert (tmp_path / "README").read_text() == "mine"


def test_init_in_an_oddly_named_directory(tmp_path: Path) -> None:
    directory = tmp_path / "we ird 'q\" \\ #[x] ü"
    genesis = init_single_node(directory, now=NOW)
    assert load_node_config(directory / "node.toml").key == (
        directory / "validator.key").resolve()
    assert load_genesis(directory / "genesis.toml") == genesis


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text("{}")
    with pytest.raises(ConfigError, match="refusing to overwrite existing files"):
        init_single_node(tmp_path, now=NOW)
    assert tree(tmp_path) == {"trust.json": b"{}"}
    os.symlink(tmp_path / "nowhere", tmp_path / "node.toml")  # a dangling link counts too
    with pytest.raises(ConfigError, match=r"node\.toml"):
        init_single_node(tmp_path, now=NOW)


def test_init_on_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot create directory"):
        init_single_node(tmp_path / "file", now=NOW)
    assert tree(tmp_path) == {"file": b"x"}


# -- failures after writing began --------------------------------------------------------


def _fail(*args: object, **kwargs: object) -> None:
    raise ConfigError("injected failure")


@pytest.mark.parametrize("step", ["load_node_config", "load_genesis", "format_trust",
                                  "second key"])
def test_a_failure_removes_what_init_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             step: str) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    if step == "second key":
        real = provision.write_key_file
        calls: list[Path] = []

        def second_fails(path: Path, seed: bytes) -> None:
            calls.append(path)
            if len(calls) % 2 == 0:  # the second of each init
                raise ConfigError("injected failure")
            real(path, seed)

        monkeypatch.setattr(provision, "write_key_file", second_fails)
    else:
        monkeypatch.setattr(provision, step, _fail)
    for directory in (existing, existing / "new" / "deeper"):
        with pytest.raises(ConfigError, match="injected failure"):
            init_single_node(directory, now=NOW)
        assert tree(tmp_path) == {"existing": None, "existing/keep.txt": b"mine"}


def test_an_interrupt_removes_what_init_created(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(provision, "load_node_config", interrupt)
    with pytest.raises(KeyboardInterrupt):
        init_single_node(tmp_path / "net", now=NOW)
    assert list(tmp_path.iterdir()) == []


def test_a_file_someone_else_added_meanwhile_is_left(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "net"

    def intruder(*args: object) -> None:
        (directory / "theirs.txt").write_text("not init's")
        raise ConfigError("injected failure")

    monkeypatch.setattr(provision, "load_node_config", intruder)
    with pytest.raises(ConfigError):
        init_single_node(directory, now=NOW)
    assert tree(tmp_path) == {"net": None, "net/theirs.txt": b"not init's"}


# -- the writers -------------------------------------------------------------------------

ODD_NAMES = ['quote"d', "back\\slash", "hash#not-a-comment", "[not.a.table]", "ünïcødé/ü",
             "tab\there", "line\nbreak", "'single'", '"""', "\u2028sep", "emoji-\U0001F600"]


def test_genesis_toml_quotes_odd_names() -> None:
    keys = [KeyPair.generate() for _ in ODD_NAMES]
    validators = [(name.replace("\t", "").replace("\n", "").replace("\u2028", ""), k.public_key)
                  for name, k in zip(ODD_NAMES, keys, strict=True)]  # key names allow no spaces
    governance = [(name, k.did) for name, k in zip(ODD_NAMES, keys, strict=True)]
    text = genesis_toml("odd.example/net", validators, governance, genesis_time=NOW)
    data = tomllib.loads(text)
    assert [v["name"] for v in data["validators"]] == [name for name, _ in validators]
    assert [g["name"] for g in data["governance"]] == ODD_NAMES
    assert data["origin"] == "odd.example/net"


def test_odd_names_load_as_a_genesis(tmp_path: Path) -> None:
    names = ['node"1', "node\\2", "nöde#3", "[node4]"]
    keys = [KeyPair.generate() for _ in names]
    path = tmp_path / "genesis.toml"
    path.write_text(genesis_toml("odd.example/net",
                                 [(n, k.public_key) for n, k in zip(names, keys, strict=True)],
                                 [("gov \"ernance\" ü", keys[0].did)], genesis_time=NOW),
                    encoding="utf-8")
    genesis = load_genesis(path)
    assert [v.name for v in genesis.validators] == names
    assert genesis.governance[0].name == 'gov "ernance" ü'


def test_node_toml_quotes_odd_values(tmp_path: Path) -> None:
    text = node_toml(role="observer", key=None, listen="[::1]:7700",
                     peers=['http://h"1:80/', "http://h\\2:81/#frag", "http://ü.example:82/"],
                     genesis="../we ird \"genesis\" #1.toml", signature_workers=3)
    data = tomllib.loads(text)
    assert data["genesis"] == '../we ird "genesis" #1.toml'
    assert data["peers"] == ['http://h"1:80/', "http://h\\2:81/#frag", "http://ü.example:82/"]
    assert (data["listen"], data["role"], data["signature_workers"]) == ("[::1]:7700",
                                                                        "observer", 3)
    assert "key" not in data


def test_genesis_time_is_kept_to_the_second_in_utc() -> None:
    local = dt.datetime(2026, 12, 5, 10, 30, 0, 999_999,
                        tzinfo=dt.timezone(dt.timedelta(hours=1)))
    text = genesis_toml("x.example/n", [("v", KeyPair.generate().public_key)],
                        [("g", KeyPair.generate().did)], genesis_time=local)
    assert tomllib.loads(text)["genesis_time"] == NOW


def test_the_genesis_vector_keeps_its_hash() -> None:
    """The writer changed (tomli-w); the genesis it writes, and so its hash, did not."""
    from tests.protocol_fixtures import ORIGIN, fixed_key

    vector = json.loads((Path(__file__).parents[1] / "vectors" / "genesis.json").read_text())
    text = genesis_toml(ORIGIN, [(f"node{i}", fixed_key(f"validator {i}").public_key)
                                 for i in range(4)],
                        [("governance", fixed_key("governance").did)],
                        genesis_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        consensus={"max_block_events": 500, "block_interval_ms": 100})
    assert tomllib.loads(text) == tomllib.loads(vector["genesis_toml"])


# -- a consortium: keygen on each host, genesis assembled from the verifier keys ----------


def keygen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["keygen", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_consortium_genesis_from_verifier_keys(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    names = ["example.org/university", "example.org/employer", "example.org/board",
             "example.org/provider"]
    sent = []
    for number, name in enumerate(names):
        key_path = tmp_path / f"host{number}" / "validator.key"
        key_path.parent.mkdir()
        code, out, err = keygen(capsys, "--name", name, "--out", str(key_path))
        assert code == 0, err
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        # The printed line is this key's cosignature/v1 verifier key and nothing else.
        public_key = read_key_file(key_path).public_key
        assert out == verifier_key(name, public_key, sig_type=SIG_COSIGNATURE_V1) + "\n"
        sent.append(out.strip())
    governance = KeyPair.generate()
    args = ["genesis", "--dir", str(tmp_path / "net"), "--origin", "example.org/credentials",
            "--governance", f"board={governance.did}", "--consensus", "timeout_propose_ms=3000"]
    for line in sent:
        args += ["--validator", line]
    assert cli.main(args) == 0
    genesis = load_genesis(tmp_path / "net" / "genesis.toml")
    assert [v.verifier_key for v in genesis.validators] == sent
    assert [g.did for g in genesis.governance] == [governance.did]
    assert genesis.quorum == 3
    assert genesis.consensus.timeout_propose_ms == 3000
    assert load_trust(tmp_path / "net" / "trust.json") == genesis.trust()
    assert sorted(os.listdir(tmp_path / "net")) == ["genesis.toml", "trust.json"]
    # Running it again never overwrites the network's files.
    before = tree(tmp_path / "net")
    assert cli.main(args) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert tree(tmp_path / "net") == before


def test_keygen_refuses_a_bad_name_and_an_existing_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = keygen(capsys, "--name", "my university", "--out", str(tmp_path / "v.key"))
    assert (code, out) == (2, "") and "no spaces" in err
    assert not (tmp_path / "v.key").exists()
    write_key_file(tmp_path / "v.key", KeyPair.generate().seed)
    before = (tmp_path / "v.key").read_bytes()
    code, out, err = keygen(capsys, "--name", "example.org/u", "--out", str(tmp_path / "v.key"))
    assert (code, out) == (2, "") and "refusing to overwrite" in err
    assert (tmp_path / "v.key").read_bytes() == before


@pytest.mark.parametrize(
    ("validator", "governance", "fragment"),
    [
        ("not-a-key", "board={did}", "not of the form name+keyid+key"),
        # A plain Ed25519 note key (what `vcledger keygen` prints) cannot cosign checkpoints.
        ("{ed25519}", "board={did}", "not a cosignature/v1 key"),
        ("{vkey}", "board", "expected NAME=did:key"),
        ("{vkey}", "board=did:key:zBad", "governance"),
        ("{vkey}", "board={did} --consensus timeout_propose_ms=fast", "expected NAME=INTEGER"),
        ("{vkey}", "board={did} --consensus timeout_propose_ms=1", "timeout_propose_ms"),
        ("{vkey}", "board={did} --consensus tiemout_propose_ms=100", "tiemout_propose_ms"),
    ],
)
def test_genesis_refuses_bad_input_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], validator: str, governance: str,
        fragment: str) -> None:
    key = KeyPair.generate()
    values = {"did": key.did, "ed25519": verifier_key("example.org/u", key.public_key),
              "vkey": verifier_key("example.org/u", key.public_key, sig_type=SIG_COSIGNATURE_V1)}
    code = cli.main(["genesis", "--dir", str(tmp_path / "net"), "--origin", "example.org/c",
                     "--validator", validator.format(**values),
                     "--governance", *governance.format(**values).split()])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "net").exists()


def test_genesis_with_the_same_validator_twice_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = KeyPair.generate()
    line = verifier_key("example.org/u", key.public_key, sig_type=SIG_COSIGNATURE_V1)
    code = cli.main(["genesis", "--dir", str(tmp_path), "--origin", "example.org/c",
                     "--validator", line, "--validator", line,
                     "--governance", f"board={key.did}"])
    assert code == 2 and "distinct" in capsys.readouterr().err
    assert tree(tmp_path) == {}


def test_localnet_files_load(tmp_path: Path) -> None:
    """`vcledger-node localnet` (scripts/localnet) writes its network with the same writers."""
    localnet.create(tmp_path, 2, 17000)
    genesis = load_genesis(tmp_path / "genesis.toml")
    assert len(genesis.validators) == 2
    for i in range(2):
        config = load_node_config(tmp_path / f"node{i}" / "node.toml")
        assert config.peers == [f"http://127.0.0.1:{17000 + 1 - i}"]
        assert config.signature_workers == 1
    assert load_trust(tmp_path / "trust.json") == genesis.trust()


@pytest.mark.slow
def test_run_on_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        directory = tmp_path / "net"
        init = subprocess.run([sys.executable, "-m", "node.cli", "init", "--dir", str(directory),
                               "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True,
                              timeout=60, check=False)
        assert init.returncode == 0, init.stderr
        run = subprocess.run([sys.executable, "-m", "node.cli", "run", "--config",
                              str(directory / "node.toml")], capture_output=True, text=True,
                             timeout=60, check=False)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr and "another node" in run.stderr
