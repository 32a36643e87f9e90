"""The repository stands on its own: nothing under it reads a file outside it.

A clone has nothing beside it (no sibling `shared` folder either), so every path a test, bench, script or
generator builds must resolve inside the checkout. This scans every tracked text file for the
ways this codebase builds paths — `env!("CARGO_MANIFEST_DIR")` joined with a relative path,
`format!("{}/…", env!("CARGO_MANIFEST_DIR"))`, `os.path.join(HERE, …)`, and literal mentions of
the sibling `shared/` folder — resolves each against the file's own crate or folder, and fails on
any that leaves the repository. The seeded tests at the bottom prove it can fail.
"""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Path::new(env!("CARGO_MANIFEST_DIR")).join("../../x")
RUST_JOIN = re.compile(r'env!\("CARGO_MANIFEST_DIR"\)\)\s*\.join\("([^"]+)"\)')
# format!("{}/../../x/{name}", env!("CARGO_MANIFEST_DIR"))
RUST_FORMAT = re.compile(r'format!\(\s*"\{\}/([^"]+)",\s*env!\("CARGO_MANIFEST_DIR"\)')
# concat!(env!("CARGO_MANIFEST_DIR"), "/../x")
RUST_CONCAT = re.compile(r'concat!\(\s*env!\("CARGO_MANIFEST_DIR"\),\s*"/([^"]+)"')
# os.path.join(HERE, "..", "x") with HERE the file's own folder
PY_JOIN = re.compile(r'os\.path\.join\(HERE((?:\s*,\s*"[^"]*")+)\)')
# The sibling folder a clone does not have.
SIBLING = re.compile(r"\.\./" + "shared" + r"\b|/" + "shared" + r"/fixtures\b")


def crate_dir(path):
    """The folder holding the nearest Cargo.toml above `path` (what CARGO_MANIFEST_DIR is)."""
    d = os.path.dirname(path)
    while d.startswith(ROOT):
        if os.path.exists(os.path.join(d, "Cargo.toml")):
            return d
        d = os.path.dirname(d)
    return ROOT


def escapes(path, text):
    """Every relative path in `text` (the content of the file at `path`) that resolves outside
    the repository, with the reason."""
    found = []
    base = crate_dir(path)
    for rx in (RUST_JOIN, RUST_FORMAT, RUST_CONCAT):
        for m in rx.finditer(text):
            rel = m.group(1).split("{")[0]  # format! holes are file names, below the folder
            target = os.path.normpath(os.path.join(base, rel))
            if not (target + os.sep).startswith(ROOT + os.sep):
                found.append(f"{m.group(0)} -> {target}")
    for m in PY_JOIN.finditer(text):
        parts = re.findall(r'"([^"]*)"', m.group(1))
        target = os.path.normpath(os.path.join(os.path.dirname(path), *parts))
        if not (target + os.sep).startswith(ROOT + os.sep):
            found.append(f"{m.group(0)} -> {target}")
    for m in SIBLING.finditer(text):
        found.append(f"mentions {m.group(0)!r}, a folder a clone does not have")
    return found


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for rel in filter(None, out.split("\0")):
        if rel.endswith((".md", ".lock", ".json")) or rel.startswith("tests/fixtures/"):
            continue  # prose, lock files and data: they read nothing
        if rel == "tests/repo/test_self_contained.py":
            continue  # this file spells the patterns out, as examples
        yield os.path.join(ROOT, rel)


def test_nothing_under_the_repository_reads_outside_it():
    problems = []
    for path in tracked_files():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        problems += [f"{os.path.relpath(path, ROOT)}: {p}" for p in escapes(path, text)]
    assert not problems, "paths that leave the repository:\n" + "\n".join(problems)


# The sibling folder's name, spelled so that this file itself does not mention it.
SIBLING_DIR = ".." + "/shared"


@pytest.mark.parametrize(
    "rel, text",
    [
        (
            "functions/spillway/src/em.rs",
            'let p = format!("{}/../../' + SIBLING_DIR + '/fixtures/x/{name}", env!("CARGO_MANIFEST_DIR"));',
        ),
        (
            "functions/spillway/benches/pipeline.rs",
            'Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../elsewhere/data.json")',
        ),
        ("events/generate.py", 'FIXTURES = os.path.join(HERE, "..", "..", "outside")'),
        ("scripts/demo.py", 'open("' + SIBLING_DIR + '/fixtures/enhanced-monitoring/a.json")'),
    ],
)
def test_a_seeded_path_outside_the_repository_is_found(rel, text):
    assert escapes(os.path.join(ROOT, rel), text), f"{text!r} in {rel} leaves the repository"


def test_paths_inside_the_repository_pass():
    for rel, text in [
        (
            "functions/spillway/src/em.rs",
            'format!("{}/../../tests/fixtures/enhanced-monitoring/{name}", env!("CARGO_MANIFEST_DIR"))',
        ),
        ("events/generate.py", 'os.path.join(HERE, "..", "tests", "fixtures")'),
    ]:
        assert not escapes(os.path.join(ROOT, rel), text), f"{text!r} stays inside"
