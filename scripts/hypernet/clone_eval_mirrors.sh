#!/usr/bin/env bash
# Checks out the GitHub evaluation repositories of training/data/cr_eval_mirrors.tsv at their pinned commits under
# data/bench-repos-2/NAME and writes data/bench-repos-2/repos.txt for `npm run bench -- --repos`. Each is cloned from
# the fetch tool's mirror (/work/.mirror/OWNER+NAME/repo) when there is one, else from its URL.
#
# usage: scripts/hypernet/clone_eval_mirrors.sh [--list TSV] [--to DIR] [--mirrors DIR]
#
# An existing work tree at the pinned commit is kept; one at another commit is refused (BAD_CHECKOUT), never reset.
set -euo pipefail
list=training/data/cr_eval_mirrors.tsv
to=data/bench-repos-2
mirrors=/work/.mirror
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    --mirrors) mirrors=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "usage: $0 [--list TSV] [--to DIR] [--mirrors DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$to"
: > "$to/repos.txt.tmp"
while IFS=$'\t' read -r name url commit _license; do
  case "$name" in ''|'#'*) continue ;; esac
  [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || { echo "BAD_LIST: $list: $name has no 40-hex commit" >&2; exit 1; }
  target=$to/$name
  if [ ! -d "$target/.git" ]; then
    owner_repo=${url#https://github.com/}
    source=$mirrors/${owner_repo/\//+}/repo
    [ -d "$source" ] || source=$url
    git clone -q --no-checkout "$source" "$target.tmp"
    git -C "$target.tmp" checkout -q "$commit"
    mv "$target.tmp" "$target"
  fi
  head=$(git -C "$target" rev-parse HEAD)
  [ "$head" = "$commit" ] || { echo "BAD_CHECKOUT: $target is at $head, the list pins $commit" >&2; exit 1; }
  echo "$(realpath "$target") $name" >> "$to/repos.txt.tmp"
  echo "$target $name ${commit:0:12}"
done < "$list"
mv "$to/repos.txt.tmp" "$to/repos.txt"
echo "$to/repos.txt lists $(wc -l < "$to/repos.txt") repositories"
