"""Independent oracle for the synthetic-repo tests: lists assertion targets in test files with Python's ast.

Follows the target rules of DESIGN.md section 1 (the paper's extractor). Usage:
    python assertion_targets.py REPO_DIR FILE...   (FILE relative to REPO_DIR)
Prints a JSON list of {"file", "line", "kind", "target"}; exits 1 with the error when a file does not parse.
    python assertion_targets.py --snapshots DIR...
Each DIR one whole snapshot (one process for many, as process starts dominate on a loaded machine): every .py file
must parse, and the targets of the files under tests/ are listed; prints {DIR: [...]}.
"""
import ast
import json
import sys
from pathlib import Path

SELF_ASSERT_METHODS = {
    "assertEqual", "assertNotEqual", "assertTrue", "assertFalse", "assertIs", "assertIsNot", "assertIsNone",
    "assertIsNotNone", "assertIn", "assertNotIn", "assertIsInstance", "assertNotIsInstance", "assertRaises",
    "assertRaisesRegex", "assertAlmostEqual", "assertNotAlmostEqual", "assertDictEqual", "assertListEqual",
    "assertTupleEqual", "assertSetEqual", "assertSequenceEqual", "assertRegex", "assertNotRegex", "assertCountEqual",
    "assertWarns", "assertLogs", "assertMultiLineEqual", "assertGreater", "assertGreaterEqual", "assertLess",
    "assertLessEqual",
}
FIRST_ARGUMENT_METHODS = {"assertTrue", "assertFalse", "assertIsNone", "assertIsNotNone", "assertRaises"}
MOCK_ASSERTS = ("assert_called", "assert_not_called", "assert_any_call", "assert_has_calls", "assert_awaited")


def flatten(text):
    return " ".join(text.split())


def keyword_suffix(source, call):
    return "".join(f", {kw.arg}={ast.get_source_segment(source, kw.value)}" for kw in call.keywords if kw.arg)


def targets_of(source, path):
    found = []

    def add(kind, node, text):
        found.append({"file": path, "line": node.lineno, "col": node.col_offset, "kind": kind, "target": flatten(text)})

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            if isinstance(node.test, ast.Compare):
                rhs = node.test.comparators[0]
                add("assert_compare", rhs, ast.get_source_segment(source, rhs))
            else:
                add("assert_expr", node.test, ast.get_source_segment(source, node.test))
            continue
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        segment = lambda arg: ast.get_source_segment(source, arg)  # noqa: E731
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, method = func.value.id, func.attr
            if owner == "self" and method in SELF_ASSERT_METHODS:
                if method in FIRST_ARGUMENT_METHODS:
                    add("unittest_method", node.args[0], segment(node.args[0]) + ")")
                elif method == "assertRaisesRegex" and len(node.args) >= 2:
                    add("unittest_method", node.args[0], f"{segment(node.args[0])}, {segment(node.args[1])})")
                elif len(node.args) >= 2:
                    add("unittest_method", node.args[-1], segment(node.args[-1]) + ")")
                continue
            if owner == "pytest" and method in ("raises", "approx"):
                kind = "pytest_raises" if method == "raises" else "pytest_approx"
                add(kind, node.args[0], segment(node.args[0]) + keyword_suffix(source, node) + ")")
                continue
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name.startswith("assert_") and name != "assert_" and not name.startswith(MOCK_ASSERTS):
            add("assert_helper", node.args[-1], segment(node.args[-1]) + ")")
    found.sort(key=lambda item: (item["line"], item["col"]))
    for item in found:
        del item["col"]
    return found


def targets_in(root, paths, parse_only=()):
    """Targets of `paths` (relative to `root`); `parse_only` files are parsed and nothing else. Exits 1 on a syntax error."""
    results = []
    for path in [*parse_only, *paths]:
        source = (root / path).read_text(encoding="utf-8")
        try:
            found = targets_of(source, path)
        except SyntaxError as error:
            print(f"{root / path}: {error}", file=sys.stderr)
            sys.exit(1)
        if path in paths:
            results.extend(found)
    return results


def main():
    if sys.argv[1] == "--snapshots":
        snapshots = {}
        for directory in sys.argv[2:]:
            root = Path(directory)
            files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.py"))
            tests = [path for path in files if path.startswith("tests/")]
            snapshots[directory] = targets_in(root, tests, parse_only=[path for path in files if path not in tests])
        json.dump(snapshots, sys.stdout, ensure_ascii=False)
        return
    json.dump(targets_in(Path(sys.argv[1]), sys.argv[2:]), sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
