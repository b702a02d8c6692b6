"""Mutation testing of the verifier and the ledger rules with mutmut 3.

Every check in the bundle verifier (``client/verify.py``, ``client/bundle_checks.py``,
``client/verdict.py``) and ``node/rules.py`` should have a test that
fails without it (issue 10).  A mutation tool tests exactly that: it makes many
small changes to the code (``<`` for ``<=``, ``not`` dropped, a constant changed, a
call removed), runs the tests against each, and counts the changes no test noticed
("survived").

Run it by hand, through ``scripts/mutation`` (which installs the ``mutation`` extra);
it is a long job and never part of CI::

    scripts/mutation                      # every target below, one after another
    scripts/mutation verify rules         # only these targets
    scripts/mutation --list               # the targets and their test selections
    scripts/mutation -j 2 verify          # two mutants at a time (default: 1)
    scripts/mutation --survivors verify   # also print each survivor's diff
    scripts/mutation --resume verify      # keep the results of an interrupted run

Each target runs in its own scratch directory (``--workdir``, by default
``$TMPDIR/vcledger-mutation/<target>``): a copy of ``client``, ``node``, ``tests``,
``docs``, ``configs`` and ``scripts`` with a ``pyproject.toml`` that adds a ``[tool.mutmut]``
section naming the one file to mutate and its tests.  mutmut writes the mutated
copy under ``mutants/`` there and puts that directory first on ``sys.path``, so the
tests import the mutated ``client``/``node`` rather than the editable install of
the work tree (mutmut's forced-fail run checks that before any mutant runs, and
stops if the tests did not see the mutated code; this script also stops if no
mutant at all was killed).  A test that starts a new Python process imports the
work tree's code there, so it cannot kill a mutant; none of the selected tests
relies on that.  The work tree is never modified.  The survivors of the last run
are listed in ``survivors.txt`` in the scratch directory; to read one::

    (cd $TMPDIR/vcledger-mutation/verify && $REPO/.venv/bin/mutmut show NAME)

Per mutant, mutmut runs only the tests of the selection that called the mutated
function (it records that in a first, clean run), in a process forked from one
that has already imported everything, so a mutant costs tens of milliseconds to a
few seconds.  Hypothesis runs with a fixed seed, so two runs of the same code
give the same figures.

To add a file (``client/vc.py`` when it exists), add a ``Target`` to ``TARGETS``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("client", "node", "tests", "docs", "configs", "scripts")
# pytest options for every run: the fast tests only (never the node processes), and
# a fixed Hypothesis seed so that kills do not depend on the examples drawn.
COMMON_PYTEST_ARGS = ("-m", "not slow", "--hypothesis-seed=0")


@dataclass(frozen=True)
class Target:
    name: str
    source: str
    tests: tuple[str, ...]
    extra_pytest_args: tuple[str, ...] = ()


TARGETS: tuple[Target, ...] = (
    # The bundle verifier lives in three modules (the steps, the checks they share with
    # pathway bundles, the verdict's text and JSON form); one set of tests guards all three.
    *(Target(name, source,
             ("tests/client/test_verify.py", "tests/client/test_verdict_meaning.py",
              "tests/protocol/test_vectors_protocol.py", "tests/client/test_bundle.py",
              "tests/protocol/test_mutation_kills.py"),
             # the two exhaustive bit-flip tests take minutes and add nothing the
             # vector cases do not already catch
             ("-k", "not substituting and not flipping"))
      for name, source in (("verify", "client/verify.py"),
                           ("bundle_checks", "client/bundle_checks.py"),
                           ("verdict", "client/verdict.py"))),
    Target("rules", "node/rules.py",
           ("tests/node/test_rules.py", "tests/node/test_ledger.py",
            "tests/system/test_security_rules.py", "tests/protocol/test_mutation_kills.py")),
    Target("smt", "client/smt.py",
           ("tests/client/test_smt.py", "tests/protocol/test_mutation_kills.py")),
    Target("batch", "client/batch.py",
           ("tests/client/test_batch.py", "tests/client/test_merkle.py",
            "tests/protocol/test_mutation_kills.py")),
    Target("checkpoint", "client/checkpoint.py",
           ("tests/client/test_checkpoint.py", "tests/client/test_freshness.py",
            "tests/client/test_note.py", "tests/protocol/test_mutation_kills.py")),
)

# mutmut's exit codes per mutant, grouped as this report counts them
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -9: "timeout", -11: "crashed", 34: "skipped", 37: "killed", None: "not run"}


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(target: Target, workdir: Path, resume: bool) -> None:
    """Lay out ``workdir`` as a copy of the project configured for one target."""
    if workdir.exists() and not resume:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in COPIED:
        destination = workdir / name
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(ROOT / name, destination, ignore=ignore)
    # a test file named in TARGETS but not written yet is left out, not an error
    tests = [t for t in target.tests if (ROOT / t).exists()]
    pyproject = (ROOT / "pyproject.toml").read_text()
    if re.search(r"^\[tool\.mutmut\]", pyproject, re.MULTILINE):
        raise SystemExit("pyproject.toml has a [tool.mutmut] section; scripts/mutation "
                         "writes its own per target, remove it")
    pyproject += (
        "\n[tool.mutmut]\n"
        "# written by scripts/mutation for this target only\n"
        'source_paths = ["client", "node"]\n'
        f"only_mutate = {_toml_list([target.source])}\n"
        # tests/protocol/test_mutation_kills.py builds faulty ledgers with scripts/vectorgen
        'also_copy = ["docs", "configs", "scripts"]\n'
        f"pytest_add_cli_args = {_toml_list(COMMON_PYTEST_ARGS + target.extra_pytest_args)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        "use_git_change_detection = false\n"
    )
    (workdir / "pyproject.toml").write_text(pyproject)


def results(target: Target, workdir: Path) -> dict[str, str]:
    """Mutant name -> status, from mutmut's record of the run."""
    meta = workdir / "mutants" / (target.source + ".meta")
    data = json.loads(meta.read_text())
    return {name: STATUS.get(code, f"exit {code}")
            for name, code in data["exit_code_by_key"].items()}


def summarise(statuses: dict[str, str]) -> dict[str, object]:
    counts = {key: sum(1 for s in statuses.values() if s == key)
              for key in ("killed", "survived", "timeout", "no tests", "not run")}
    other = len(statuses) - sum(counts.values())
    # A timeout means the mutant made the tests hang: the tests noticed it.  A mutant
    # that no selected test reaches ("no tests") counts against the score like a survivor.
    score = (counts["killed"] + counts["timeout"]) / len(statuses) if statuses else 0.0
    return {"mutants": len(statuses), **counts, "other": other, "score": score}


def run_target(target: Target, workdir: Path, mutmut: Path, *, max_children: int,
               resume: bool, show_survivors: bool) -> dict[str, object]:
    prepare(target, workdir, resume)
    log = workdir / "mutmut.log"
    print(f"== {target.name}: {target.source} (log: {log})", flush=True)
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("w") as out:
        proc = subprocess.run([str(mutmut), "run", "--max-children", str(max_children)],
                              cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env,
                              check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise SystemExit(f"mutmut failed on {target.name} (exit {proc.returncode}); see {log}")
    statuses = results(target, workdir)
    summary = summarise(statuses)
    if statuses and not summary["killed"]:
        raise SystemExit(f"no mutant of {target.source} was killed: the tests did not run "
                         f"the mutated code; see {log}")
    summary["seconds"] = round(elapsed)
    survivors = sorted(n for n, s in statuses.items() if s != "killed")
    (workdir / "survivors.txt").write_text("".join(f"{statuses[n]}\t{n}\n" for n in survivors))
    for name in survivors:
        print(f"   {statuses[name]:9} {name}")
        if show_survivors:
            diff = subprocess.run([str(mutmut), "show", name], cwd=workdir, text=True,
                                  capture_output=True, check=False).stdout
            print("\n".join("      " + line for line in diff.splitlines()[1:]))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mutation testing of the verifier and the ledger rules (mutmut); "
                    "a long job run by hand, never in CI.")
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="targets to run (default: all): "
                             + ", ".join(t.name for t in TARGETS))
    parser.add_argument("-j", "--max-children", type=int, default=1,
                        help="mutants tested at once (default 1: the machine is shared)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "vcledger-mutation",
                        help="scratch directory, one subdirectory per target")
    parser.add_argument("--resume", action="store_true",
                        help="keep earlier results in the scratch directory (only "
                             "mutants without a result run); default: start afresh")
    parser.add_argument("--survivors", action="store_true",
                        help="print the diff of every mutant the tests did not kill")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    args = parser.parse_args(argv)

    by_name = {t.name: t for t in TARGETS}
    if args.list:
        for t in TARGETS:
            print(f"{t.name:13} {t.source:24} {' '.join(t.tests + t.extra_pytest_args)}")
        return 0
    unknown = [n for n in args.targets if n not in by_name]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.targets] if args.targets else list(TARGETS)
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        parser.error(f"{mutmut} not found: install the extra with "
                     "`.venv/bin/pip install -e '.[test,mutation]'`")

    figures: dict[str, dict[str, object]] = {}
    for target in chosen:
        figures[target.source] = run_target(target, args.workdir.resolve() / target.name,
                                            mutmut, max_children=args.max_children,
                                            resume=args.resume, show_survivors=args.survivors)
    print()
    print(f"{'file':24} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} "
          f"{'no tests':>8} {'score':>7} {'time':>7}")
    for source, f in figures.items():
        print(f"{source:24} {f['mutants']:>7} {f['killed']:>7} {f['survived']:>8} "
              f"{f['timeout']:>7} {f['no tests']:>8} {f['score']:>7.1%} {f['seconds']:>6}s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
