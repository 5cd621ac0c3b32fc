#!/usr/bin/env bash
# Turns evaluation repositories kept as plain folders (data/hypernet/repos/NAME: Debian package trees, no git) into
# one-commit git work trees under data/bench-repos/NAME, so the benchmark opens them like any local git repository:
#   npm run bench -- --repos data/bench-repos/repos.txt ...     (or --repos data/bench-repos/A,data/bench-repos/B)
#
# usage: scripts/hypernet/git_init_eval_repos.sh [--from DIR] [--to DIR] NAME... | --list FILE (one NAME per line, # comments)
#
# The commit is deterministic (fixed author, committer, date and message), so the same files give the same commit SHA,
# and so the same task ids, on every machine. Folders cli/readWorkingTree.ts skips (.git, __pycache__, node_modules,
# .tox, .nox, .venv, venv, site-packages, build, dist) are left out, as cli/hypernet-data.ts leaves them out when it
# mines the training tasks. One commit means no evo tasks: evo needs real history. An existing work tree is kept.
set -euo pipefail
from=data/hypernet/repos
to=data/bench-repos
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    --list) while IFS= read -r line; do line=${line%%#*}; line=$(echo "$line" | awk '{print $1}'); [ -n "$line" ] && names+=("$line"); done < "$2"; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || { echo "usage: $0 [--from DIR] [--to DIR] NAME... | --list FILE" >&2; exit 2; }

export GIT_AUTHOR_NAME=code2lora-bench GIT_AUTHOR_EMAIL=bench@code2lora.invalid GIT_AUTHOR_DATE='2026-01-01T00:00:00Z'
export GIT_COMMITTER_NAME=code2lora-bench GIT_COMMITTER_EMAIL=bench@code2lora.invalid GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
mkdir -p "$to"
for name in "${names[@]}"; do
  source_dir=$from/$name
  target=$to/$name
  [ -d "$source_dir" ] || { echo "NO_SUCH_REPO: $source_dir" >&2; exit 1; }
  if [ ! -d "$target/.git" ]; then
    rm -rf "$target.tmp" && mkdir -p "$target.tmp"
    tar -C "$source_dir" --exclude=.git --exclude=__pycache__ --exclude=node_modules --exclude=.tox --exclude=.nox \
      --exclude=.venv --exclude=venv --exclude=site-packages --exclude=build --exclude=dist -cf - . | tar -C "$target.tmp" -xf -
    git -C "$target.tmp" init -q -b main
    git -C "$target.tmp" -c core.autocrlf=false -c commit.gpgsign=false add -A
    git -C "$target.tmp" -c commit.gpgsign=false commit -q -m "Import $name (data/hypernet/repos)"
    mv "$target.tmp" "$target"
  fi
  echo "$target $name $(git -C "$target" rev-parse --short=12 HEAD)"
done
# The list `--repos` takes: SOURCE NAME per line.
for dir in "$to"/*/; do [ -d "$dir.git" ] && echo "$(realpath "$dir") $(basename "$dir")"; done > "$to/repos.txt"
echo "$to/repos.txt lists $(wc -l < "$to/repos.txt") repositories"
