"""Builds the hypernetwork's repositories from Debian packages: each package, or each sub-package with its own tests.

Usage: training/.venv/bin/python scripts/hypernet/build_repos.py [--data-dir data]

Reuses the corpus builder's download, extraction, license check and file filters (scripts/corpus/build_corpus.py), then
cuts every package's installed tree into repositories: a sub-package (a direct child folder of a top-level package)
that holds both tests and source becomes a repository of its own, as in the upstream source tree; the rest of the
package is one more. Validation packages of packages.tsv (never seen by c2l-base, the repo encoder) are the evaluation
repositories (split "test", each whole); a seeded tenth of the training packages are the cross-repo validation
repositories (split "val"). Writes data/hypernet/repos/<name>/ (kept .py files only) and training/data/hypernet_repos.tsv
(name, package, version, license, split, files), the list that names every repository the hypernetwork saw.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
from build_corpus import (  # noqa: E402
    DEFAULT_PACKAGES_FILE, REPO_ROOT, check_package_license, collect_package_files, deb_version, download_debs,
    extract_deb, find_deb, read_package_list,
)

REPO_LIST = REPO_ROOT / "training" / "data" / "hypernet_repos.tsv"
# The stdlib keeps its tests in one separate tree (Lib/test), not beside each module: it does not cut into repositories.
SKIPPED_PACKAGES = {"libpython3.11-minimal", "libpython3.11-stdlib", "libpython3.11-testsuite"}
MIN_TEST_FILES = 2
MIN_SOURCE_FILES = 2
CR_VAL_FRACTION = 0.1


def is_test_path(path: str) -> bool:
    """The same rule as src/git/pathFilters.ts isTestPath."""
    parts = path.lower().split("/")
    name = parts[-1]
    return (any(part in ("test", "tests", "testing") for part in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name in ("tests.py", "conftest.py"))


def package_split(package: str, listed_split: str) -> str:
    if listed_split == "val":
        return "test"
    bucket = int(hashlib.sha256(package.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < CR_VAL_FRACTION else "train"


def cut_into_repositories(paths: list[str], whole: bool) -> dict[str, list[str]]:
    """Groups a package's file paths by top-level package, then by sub-package where that sub-package has tests."""
    by_top: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        parts = PurePosixPath(path).parts
        if len(parts) >= 2:
            by_top[parts[0]].append(path)
    if whole:
        return {"": paths}
    repos: dict[str, list[str]] = {}
    for top, files in by_top.items():
        by_child: dict[str, list[str]] = defaultdict(list)
        for path in files:
            parts = PurePosixPath(path).parts
            by_child[parts[1] if len(parts) >= 3 else ""].append(path)
        rest: list[str] = []
        for child, child_files in by_child.items():
            tests = sum(is_test_path(p) for p in child_files)
            sources = len(child_files) - tests
            if child and child not in ("tests", "test", "testing") and tests >= MIN_TEST_FILES and sources >= MIN_SOURCE_FILES:
                repos[f"{top}.{child}"] = child_files
            else:
                rest += child_files
        repos[top] = rest
    return repos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data")
    parser.add_argument("--packages-file", type=Path, default=DEFAULT_PACKAGES_FILE)
    args = parser.parse_args()

    specs = [spec for spec in read_package_list(args.packages_file) if spec.name not in SKIPPED_PACKAGES]
    debs_dir, extract_root = args.data_dir / "debs", args.data_dir / "extract"
    download_debs([spec.name for spec in specs], debs_dir)
    out_root = args.data_dir / "hypernet" / "repos"
    shutil.rmtree(out_root, ignore_errors=True)
    out_root.mkdir(parents=True)
    rows, removed, seen_content = [], Counter(), set()
    for spec in specs:
        deb = find_deb(debs_dir, spec.name)
        extract_deb(deb, extract_root / spec.name)
        license_check = check_package_license(extract_root, spec)
        if license_check.package_is_copyleft:
            removed["copyleft_package"] += 1
            continue
        files = collect_package_files(extract_root / spec.name, spec, deb_version(deb), license_check.copyleft_globs, removed)
        # Another package's identical copy (Debian ships some modules twice) would leak across splits: keep the first.
        unique = []
        for source in files:
            digest = hashlib.sha1(source.text.encode()).hexdigest()
            if digest not in seen_content:
                seen_content.add(digest)
                unique.append(source)
        by_path = {source.path: source for source in unique}
        split = package_split(spec.name, spec.split)
        for suffix, paths in cut_into_repositories(sorted(by_path), whole=split == "test").items():
            tests = sum(is_test_path(p) for p in paths)
            if tests < MIN_TEST_FILES or len(paths) - tests < MIN_SOURCE_FILES:
                continue
            name = spec.name.removeprefix("python3-") + (f"--{suffix}" if suffix else "")
            for path in paths:
                target = out_root / name / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(by_path[path].text, encoding="utf-8")
            rows.append((name, spec.name, deb_version(deb), spec.license, split, str(len(paths))))
    REPO_LIST.parent.mkdir(parents=True, exist_ok=True)
    with REPO_LIST.open("w", encoding="utf-8") as handle:
        handle.write("# Repositories of the hypernetwork data (scripts/hypernet/build_repos.py): name, Debian package, version,"
                     " license, split (train | val = cross-repo validation | test = evaluation), Python files\n")
        for row in rows:
            handle.write("\t".join(row) + "\n")
    counts = Counter(row[4] for row in rows)
    print(f"{len(rows)} repositories (train {counts['train']}, val {counts['val']}, test {counts['test']}) in {out_root};"
          f" list in {REPO_LIST}; removed files: {dict(removed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
