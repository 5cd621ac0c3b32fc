"""Writes training/data/evo_repos.tsv, the repositories of Code2LoRA-Evo's data, from bare git mirrors.

Usage: python3 scripts/evo/build_repo_list.py [--mirrors /work/.mirror] [--history 160] [--out training/data/evo_repos.tsv]

The mirrors are made by the session's `fetch` tool (github:OWNER/NAME -> MIRRORS/OWNER+NAME/repo, a bare git directory
with full history); nothing here downloads. For each candidate below it reads, with the git command line, the head
commit, the length of the first-parent history, the Python and test files at the head and the license file's text, and
keeps a repository when it has >= MIN_COMMITS first-parent commits, test files, a permissive license, (training
repositories) MIN_PY_FILES-MAX_PY_FILES Python files, and is not in TOO_FEW_TASKS (measured with data:evo). The evaluation repositories (split "test") are fixed: they are
also held out of the Static hypernetwork's training. VAL_COUNT training repositories, chosen by a hash of their names,
are the cross-repo validation split. Rejections are printed with their reason.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EVALUATION = ["networkx/networkx", "sunpy/sunpy", "tornadoweb/tornado", "hgrecco/pint", "pydata/xarray"]
TRAINING_CANDIDATES = [
    "pallets/flask", "pallets/click", "pallets/jinja", "pallets/werkzeug", "pallets/markupsafe", "pallets/itsdangerous",
    "pallets/quart", "pallets-eco/wtforms", "psf/requests", "encode/httpx", "encode/starlette", "encode/uvicorn",
    "python-attrs/attrs", "python-attrs/cattrs", "hynek/structlog", "tqdm/tqdm", "pytest-dev/pluggy",
    "pytest-dev/pytest-mock", "pytest-dev/pytest-xdist", "pypa/packaging", "pypa/build", "pypa/wheel",
    "more-itertools/more-itertools", "dateutil/dateutil", "arrow-py/arrow", "marshmallow-code/marshmallow",
    "python-poetry/tomlkit", "hukkin/tomli", "mahmoud/boltons", "jd/tenacity", "pyparsing/pyparsing", "tkem/cachetools",
    "python-jsonschema/jsonschema", "agronholm/anyio", "aio-libs/multidict", "aio-libs/yarl", "aio-libs/frozenlist",
    "simonw/sqlite-utils", "scrapy/parsel", "scrapy/w3lib", "getsentry/responses", "spulec/freezegun", "joke2k/faker",
    "PyCQA/isort", "PyCQA/pyflakes", "PyCQA/pycodestyle", "PyCQA/flake8", "Textualize/rich", "jaraco/keyring",
    "python-humanize/humanize", "tox-dev/filelock", "tox-dev/platformdirs", "msiemens/tinydb", "theskumar/python-dotenv",
    "Delgan/loguru", "python/typing_extensions", "fastapi/typer", "jpadilla/pyjwt", "Python-Markdown/markdown",
    "executablebooks/markdown-it-py", "lepture/mistune", "jazzband/tablib", "jazzband/prettytable",
    "astanin/python-tabulate", "bottlepy/bottle", "kjd/idna", "python-trio/trio", "google/python-fire",
    "python-hyper/h11", "python-hyper/h2", "urllib3/urllib3", "Pylons/waitress", "pyinvoke/invoke", "lark-parser/lark",
    "keleshev/schema", "pyeve/cerberus", "jmespath/jmespath.py", "jawah/charset_normalizer", "Kludex/python-multipart",
    "pallets-eco/blinker", "sloria/environs", "python-validators/validators", "pydantic/pydantic-settings",
    "prompt-toolkit/python-prompt-toolkit",
]
# Fewer than 30 Evo tasks in their last 160 first-parent commits (the first commit's suite left out, the authors' caps):
# `npm run data:evo -- --min-tasks 0` counted them (seed 0, 2026-12-02), and data:evo would drop them.
TOO_FEW_TASKS = {
    "pallets/itsdangerous": 4, "pallets/markupsafe": 9, "python-jsonschema/jsonschema": 10, "aio-libs/frozenlist": 11,
    "pytest-dev/pytest-mock": 12, "marshmallow-code/marshmallow": 22, "pallets/quart": 22, "Python-Markdown/markdown": 23,
    "psf/requests": 27, "pytest-dev/pluggy": 28, "prompt-toolkit/python-prompt-toolkit": 23, "pallets-eco/blinker": 29,
    "pyinvoke/invoke": 29,
}
MIN_COMMITS = 100
MIN_PY_FILES = 5
MAX_PY_FILES = 400
VAL_COUNT = 5
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying)([-._].*)?$", re.IGNORECASE)
# The same rule as src/git/pathFilters.ts isTestPath.
TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)(test_[^/]*|[^/]*_test|tests|conftest)\.py$", re.IGNORECASE)
# (license, wording that identifies it), checked in this order; copyleft texts are recognised to be refused.
LICENSE_TEXTS = [
    ("GPL", ("gnu general public license", "gnu lesser general public license", "gnu affero")),
    ("MPL-2.0", ("mozilla public license",)),
    ("Apache-2.0", ("apache license",)),
    ("MIT", ("permission is hereby granted, free of charge",)),
    ("PSF-2.0", ("python software foundation license",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software",)),
    ("BSD", ("redistribution and use in source and binary forms",)),
]
PERMISSIVE = {"Apache-2.0", "MIT", "PSF-2.0", "ISC", "BSD-2-Clause", "BSD-3-Clause"}


def git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={mirror}", *args], check=True, capture_output=True, text=True).stdout


def classify_license(text: str) -> str | None:
    body = " ".join(text.lower().split())
    for name, phrases in LICENSE_TEXTS:
        if any(phrase in body for phrase in phrases):
            if name == "BSD":
                return "BSD-3-Clause" if "neither the name" in body or "names of its contributors" in body else "BSD-2-Clause"
            return name
    return None


def repository_license(mirror: Path, head: str) -> str | None:
    """The licenses of the top-level license files, joined with OR (dual-licensed projects ship one file each)."""
    found: list[str] = []
    for name in git(mirror, "ls-tree", "--name-only", head).split("\n"):
        if LICENSE_FILE.match(name):
            license_name = classify_license(git(mirror, "show", f"{head}:{name}"))
            if license_name and license_name not in found:
                found.append(license_name)
    if not found or any(name not in PERMISSIVE for name in found):
        return None
    return " OR ".join(sorted(found))


def describe(mirrors: Path, full_name: str, history: int) -> tuple[dict | None, str]:
    name = full_name.replace("/", "+")
    mirror = mirrors / name / "repo"
    if not (mirror / "HEAD").exists():
        return None, f"no mirror at {mirror} (fetch github:{full_name})"
    head = git(mirror, "rev-parse", "HEAD").strip()
    commits = int(git(mirror, "rev-list", "--first-parent", "--count", head))
    paths = git(mirror, "ls-tree", "-r", "--name-only", head).split("\n")
    python = [path for path in paths if path.endswith(".py")]
    tests = [path for path in python if TEST_PATH.search(path)]
    license_name = repository_license(mirror, head)
    row = {"name": name, "url": f"https://github.com/{full_name}", "head": head, "commits": min(commits, history),
           "license": license_name, "py_files": len(python), "test_files": len(tests)}
    if full_name in TOO_FEW_TASKS:
        return None, f"{TOO_FEW_TASKS[full_name]} Evo tasks in the last {history} commits (< 30)"
    if commits < MIN_COMMITS:
        return None, f"{commits} first-parent commits (< {MIN_COMMITS})"
    if not tests:
        return None, "no test files"
    if not license_name:
        return None, "no permissive license file"
    if full_name not in EVALUATION and not MIN_PY_FILES <= len(python) <= MAX_PY_FILES:
        return None, f"{len(python)} Python files (outside {MIN_PY_FILES}-{MAX_PY_FILES})"
    return row, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--history", type=int, default=160, help="commits used per repository at most (the TSV's commits)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "training/data/evo_repos.tsv")
    args = parser.parse_args()
    assert not set(EVALUATION) & set(TRAINING_CANDIDATES), "an evaluation repository is also a training candidate"
    rows: list[dict] = []
    for full_name in EVALUATION + TRAINING_CANDIDATES:
        row, reason = describe(args.mirrors, full_name, args.history)
        if row is None:
            print(f"skipped {full_name}: {reason}", file=sys.stderr)
            continue
        row["split"] = "test" if full_name in EVALUATION else "train"
        rows.append(row)
    training = sorted((row for row in rows if row["split"] == "train"),
                      key=lambda row: hashlib.sha256(f"evo-val\0{row['name']}".encode()).hexdigest())
    for row in training[:VAL_COUNT]:
        row["split"] = "val"
    rows.sort(key=lambda row: ({"train": 0, "val": 1, "test": 2}[row["split"]], row["name"].lower()))
    header = ("# Repositories of the Code2LoRA-Evo data (scripts/evo/build_repo_list.py; mirrors from the fetch tool): "
              "name (owner+name), url, head commit, history commits used, license, "
              "split (train | val = cross-repo validation | test = evaluation)\n")
    args.out.write_text(header + "".join(
        "\t".join(str(row[key]) for key in ("name", "url", "head", "commits", "license", "split")) + "\n" for row in rows))
    counts = {split: sum(row["split"] == split for row in rows) for split in ("train", "val", "test")}
    print(f"{len(rows)} repositories ({counts['train']} train, {counts['val']} val, {counts['test']} test) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
