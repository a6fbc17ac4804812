#!/usr/bin/env bash
# Fails when a locked dependency needs a newer Rust than the `rust-version`
# Cargo.toml promises, or when the README's Quick start names another
# minimum than Cargo.toml.
#
#   .ci/check-rust-version.sh      (or `make check-rust-version`; .ci/run runs it)
#
# Which packages: every package of Cargo.lock, as `cargo metadata --locked
# --all-features` lists them without --filter-platform: normal, build and
# dev-dependencies, optional ones, for every target platform.
# - dev-dependencies, because `make test` must build with the documented
#   minimum too, not only the broker;
# - optional ones and other platforms', because the one lock file serves
#   every feature set and every target edgemq is built for.
# cargo refuses to build a package whose rust-version is above the running
# compiler's, so any of these would break a build with the documented
# minimum. A package that declares no rust-version is not checked.
#
# Prints each offending package (name, version, its rust-version) and the
# minimum to write instead, and exits 1; exits 0 with one line when all fit.
# edgemq's own code is held to `rust-version` by clippy's incompatible_msrv
# lint (`make lint`), which this script does not replace.
#
# Needs cargo and jq (Debian/Ubuntu package jq; .ci/run installs it): the
# JSON is read with a JSON reader, not with grep.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v jq >/dev/null 2>&1; then
    echo "error: $0 needs jq (Debian/Ubuntu: apt-get install jq)" >&2
    exit 2
fi

metadata=$(cargo metadata --format-version 1 --locked --all-features)

# `1.88` -> [1, 88, 0], `1.56.1` -> [1, 56, 1]; compared element by element.
jq_version='def v: split(".") | map(tonumber) | (. + [0, 0, 0])[0:3];'

# The workspace's promise: the lowest rust-version of its members.
ours=$(jq -r "$jq_version"'
    .workspace_members as $ws
    | [.packages[] | select(.id as $id | $ws | index($id))]
    | if any(.rust_version == null) then "none"
      else min_by(.rust_version | v) | .rust_version end' <<<"$metadata")
if [ "$ours" = none ]; then
    echo "error: Cargo.toml has no rust-version" >&2
    exit 1
fi

# Offenders as "NAME<TAB>VERSION<TAB>RUST_VERSION", highest need first,
# then by name.
offenders=$(jq -r --arg min "$ours" "$jq_version"'
    .workspace_members as $ws
    | [.packages[]
       | select((.id as $id | $ws | index($id)) | not)
       | select(.rust_version != null and (.rust_version | v) > ($min | v))]
    | sort_by([(.rust_version | v | map(-.)), .name])
    | .[] | [.name, .version, .rust_version] | @tsv' <<<"$metadata")

status=0
if [ -n "$offenders" ]; then
    need=$(head -n1 <<<"$offenders" | cut -f3)
    echo "error: Cargo.toml says rust-version = \"$ours\", but locked packages need a newer Rust:" >&2
    while IFS=$'\t' read -r name version rust_version; do
        printf '  %-24s %-10s rust-version %s\n' "$name" "$version" "$rust_version" >&2
    done <<<"$offenders"
    echo "Raise rust-version in Cargo.toml and the README's Quick start to $need," >&2
    echo "or lock older versions (cargo update -p NAME --precise VERSION)." >&2
    status=1
fi

# The README's Quick start states the same minimum as Cargo.toml.
if ! grep -qF "Rust toolchain ($ours or newer" README.md; then
    echo "error: README.md's Quick start does not say 'Rust toolchain ($ours or newer'" \
        "(Cargo.toml: rust-version = \"$ours\")" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    count=$(jq '.packages | length' <<<"$metadata")
    echo "rust-version $ours: all $count locked packages fit"
fi
exit "$status"
