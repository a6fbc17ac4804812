#!/usr/bin/env bash
# `make openwrt-check`: what can be checked of the OpenWrt package
# (cross/openwrt) without the OpenWrt SDK, in a few seconds.
#
# - Both init scripts (the package's and rootfs/'s) parse with sh -n, and
#   with busybox ash when busybox is installed (.ci/run installs it).
# - Each init script's start_service, run under stand-ins of the procd
#   functions (procd-stub.sh; with busybox's sed, sort and friends when it
#   is there, as on the device), asks procd for the expected command line,
#   user, files, respawn, jail and mounts; the two agree on what they share.
# - The recipe runs against a stand-in SDK (sdk/: rules.mk, package.mk,
#   the feed's rust-package.mk; fake-cargo records cargo's calls): its
#   Build/Prepare copies the checkout and makes the patched crates the
#   target needs with the real cross/patch-*.sh (for mips, arm and
#   aarch64), its Build/Compile asks cargo for the broker alone, locked,
#   patched and with our profile; its install step lays out the expected
#   files with the expected modes; its conffiles are files it installs.
# - With EDGEMQ_BIN (the Makefile passes the debug build when there is one)
#   that binary's `check-config` accepts the installed config.
#
#   tests/openwrt/check.sh        (from anywhere)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/edgemq-openwrt-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
	echo "openwrt-check: $*" >&2
	exit 1
}
# Asserts that FILE has a line equal to LINE.
has_line() {
	grep -qxF -- "$2" "$1" || { cat "$1" >&2; fail "no line '$2' in $1"; }
}
lacks_line() {
	! grep -qxF -- "$2" "$1" || { cat "$1" >&2; fail "unexpected line '$2' in $1"; }
}

feed_init=$repo/cross/openwrt/files/edgemq.init
rootfs_init=$repo/rootfs/etc/init.d/edgemq

# --- 1. syntax --------------------------------------------------------------
for script in "$feed_init" "$rootfs_init"; do
	sh -n "$script" || fail "sh -n $script"
	if command -v busybox >/dev/null 2>&1; then
		busybox sh -n "$script" || fail "busybox sh -n $script"
	fi
done

# --- 2. the init scripts under stand-in procd functions ---------------------
# As on the device, busybox's applets when busybox is here.
shell=sh
tools_path=$PATH
if command -v busybox >/dev/null 2>&1; then
	shell="busybox sh"
	mkdir -p "$work/busybox-bin"
	for applet in sed sort tail dirname mkdir cat; do
		ln -s "$(command -v busybox)" "$work/busybox-bin/$applet"
	done
	tools_path=$work/busybox-bin:$PATH
fi

root=$work/root
mkdir -p "$root/usr/bin" "$root/etc/edgemq" "$root/other" "$root/logs"
printf '#!/bin/sh\n' > "$root/usr/bin/edgemq"
chmod 0755 "$root/usr/bin/edgemq"
: > "$root/etc/edgemq/passwd"
: > "$root/other/ca.pem"
conf=$root/etc/edgemq/edgemq.conf
# The shipped config, its store moved under the test's root, plus keys that
# name files: one in the config directory, one outside it, a log file.
sed "s|^persistence_location .*|persistence_location $root/etc/edgemq/store/|" \
	"$repo/rootfs/etc/edgemq/edgemq.conf" > "$conf"
cat >> "$conf" <<EOF
password_file $root/etc/edgemq/passwd
listener 8883
cafile $root/other/ca.pem
#certfile $root/other/commented-out.pem
log_dest file $root/logs/edgemq.log
EOF

# Runs SCRIPT's start_service under the stubs; prints the record's path.
run_init() {
	local script=$1 name=$2 record=$work/$2.record
	: > "$record"
	PATH=$tools_path PROCD_RECORD=$record $shell -c '
		. "$1"
		. "$2"
		PROG=$3 CONF=$4 STORE=$5 RUNDIR=$6
		start_service
	' sh "$here/procd-stub.sh" "$script" "$root/usr/bin/edgemq" "$conf" \
		"$root/etc/edgemq/store" "$root/var/run/edgemq" ||
		fail "$name: start_service failed"
	echo "$record"
}

rec=$(run_init "$feed_init" feed)
[ "$(grep '^procd_' "$rec" | head -n 1)" = "procd_open_instance" ] || fail "feed: the instance is not opened first: $(cat "$rec")"
[ "$(tail -n 1 "$rec")" = "procd_close_instance" ] || fail "feed: the instance is not closed last: $(cat "$rec")"
for want in \
	"procd_set_param [command] [$root/usr/bin/edgemq] [-c] [$conf]" \
	"procd_set_param [user] [edgemq]" \
	"procd_set_param [group] [edgemq]" \
	"procd_set_param [no_new_privs] [1]" \
	"procd_set_param [respawn] [3600] [5] [5]" \
	"procd_set_param [stdout] [1]" \
	"procd_set_param [stderr] [1]" \
	"procd_set_param [file] [$conf]" \
	"procd_append_param [file] [$root/etc/edgemq/passwd]" \
	"procd_append_param [file] [$root/other/ca.pem]" \
	"procd_set_param [reload_signal] [HUP]" \
	"procd_set_param [term_timeout] [15]" \
	"procd_set_param [limits] [nofile=4096 4096]" \
	"procd_add_jail [edgemq] [log] [procfs]" \
	"procd_add_jail_mount [$root/etc/edgemq]" \
	"procd_add_jail_mount [$root/other/ca.pem]" \
	"procd_add_jail_mount_rw [$root/etc/edgemq/store] [$root/var/run/edgemq]" \
	"procd_add_jail_mount_rw [$root/logs]" \
	"chown [-R] [edgemq:edgemq] [$root/etc/edgemq/store]" \
	"chmod [0700] [$root/etc/edgemq/store]" \
	"chown [edgemq:edgemq] [$root/var/run/edgemq]"; do
	has_line "$rec" "$want"
done
# A file in the config directory is in the jail already; a commented-out
# key names nothing.
lacks_line "$rec" "procd_add_jail_mount [$root/etc/edgemq/passwd]"
! grep -q 'commented-out' "$rec" || fail "feed: a commented-out key was used: $(cat "$rec")"
[ -d "$root/etc/edgemq/store" ] && [ -d "$root/var/run/edgemq" ] ||
	fail "feed: the store and the socket directory were not made"

# The plain overlay runs as root, and asks procd for the same service.
rootfs_rec=$(run_init "$rootfs_init" rootfs)
! grep -q '^procd_set_param \[user\]\|^procd_add_jail\|^chown' "$rootfs_rec" ||
	fail "rootfs: runs as root without a jail, and gives nothing away without \`user\`: $(cat "$rootfs_rec")"
shared='^procd_set_param \[\(command\|respawn\|stdout\|stderr\|reload_signal\|term_timeout\|limits\)\]'
diff <(grep "$shared" "$rec") <(grep "$shared" "$rootfs_rec") >&2 ||
	fail "the package's and the overlay's init scripts differ in what they share (above)"
has_line "$rootfs_rec" "procd_set_param [file] [$conf]"

# --- 3. the recipe against a stand-in SDK -------------------------------------
# The patch scripts copy crates from cargo's registry: make sure the locked
# ones are unpacked (no-op when they are).
(cd "$repo" && cargo fetch --quiet)
sdk=$work/sdk
mkdir -p "$sdk/include" "$sdk/feeds/packages/lang/rust" "$sdk/feeds/packages/net" "$sdk/dl" "$work/bin"
cp "$here/sdk/rules.mk" "$sdk/rules.mk"
cp "$here/sdk/include/package.mk" "$sdk/include/package.mk"
cp "$here/sdk/lang/rust/rust-package.mk" "$sdk/feeds/packages/lang/rust/"
ln -s "${CARGO_HOME:-$HOME/.cargo}" "$sdk/dl/cargo"
ln -s "$here/fake-cargo" "$work/bin/cargo"
export FAKE_CARGO_LOG=$work/cargo.log

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
# The recipe as a symlink to this checkout's cross/openwrt (EDGEMQ_SRC
# found by itself, the feed's helpers through $(TOPDIR)/feeds/packages).
linked=$sdk/feeds/packages/net/edgemq
ln -s "$repo/cross/openwrt" "$linked"
pkg_make() {
	PATH=$work/bin:$PATH make --no-print-directory -s -C "$linked" TOPDIR="$sdk" "$@"
}

info=$work/info
pkg_make info ARCH=mips > "$info" || fail "the recipe does not parse"
for want in "PKG_VERSION=$version" "USERID=edgemq=201:edgemq=201" "SECTION=net" \
	"PKG_BUILD_DIR=$sdk/build_dir/edgemq-$version"; do
	has_line "$info" "$want"
done
grep -q '^PKG_BUILD_DEPENDS=.*rust/host' "$info" || fail "no rust/host build dependency: $(cat "$info")"
grep -q '^DEPENDS=@(aarch64||' "$info" || fail "DEPENDS is not the feed's RUST_ARCH_DEPENDS: $(cat "$info")"
# Every target parses in make -n too.
for target in prepare compile install-pkg conffiles; do
	pkg_make -n "$target" ARCH=mips DESTDIR="$work/n" > /dev/null || fail "make -n $target"
done

build=$sdk/build_dir/edgemq-$version
patches=$build/target/cross-patches
# ARCH [CONFIG_ARCH_64BIT] -> the crates patched for it.
check_prepare() {
	local arch=$1 bits64=$2 want=$3
	: > "$FAKE_CARGO_LOG"
	pkg_make prepare ARCH="$arch" CONFIG_ARCH_64BIT="$bits64" > "$work/prepare.log" 2>&1 ||
		{ cat "$work/prepare.log" >&2; fail "prepare for $arch failed"; }
	[ -f "$build/Cargo.toml" ] && [ -f "$build/Cargo.lock" ] && [ -d "$build/src" ] &&
		[ -f "$build/rootfs/etc/edgemq/edgemq.conf" ] || fail "$arch: the checkout was not copied"
	[ ! -e "$build/.git" ] || fail "$arch: .git was copied"
	[ "$(ls "$build/target")" = cross-patches ] || fail "$arch: target/ was copied: $(ls "$build/target")"
	local got
	got=$(sed -n 's/^\([a-z-]*\) = { path = "\(.*\)" }$/\1/p' "$patches/patches.toml" | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "$arch: patched '$got', want '$want': $(cat "$patches/patches.toml")"
	sed -n 's/^[a-z-]* = { path = "\(.*\)" }$/\1/p' "$patches/patches.toml" | while read -r dir; do
		[ -f "$dir/.edgemq-patched" ] || fail "$arch: $dir is not a patched copy"
	done
	has_line "$FAKE_CARGO_LOG" "cwd=$build panic= overflow= [fetch] [--config] [$patches/patches.toml]"
}
check_prepare mips "" "async-io polling sled "
grep -q 'std::array::from_fn(|_| AtomicU64::new(0))' "$patches"/sled-*/src/lru.rs ||
	fail "mips: sled's lru.rs is not patched"
check_prepare arm "" "async-io polling "
check_prepare aarch64 y "async-io "

: > "$FAKE_CARGO_LOG"
pkg_make compile ARCH=aarch64 CONFIG_ARCH_64BIT=y > /dev/null || fail "compile failed"
call=$(grep '\[install\]' "$FAKE_CARGO_LOG") || fail "no cargo install: $(cat "$FAKE_CARGO_LOG")"
for want in "panic=abort overflow=false " "[--profile] [release]" "[--root] [$build/ipkg-install]" \
	"[--path] [$build/.]" "[--locked]" "[--bin] [edgemq]" "[--config] [$patches/patches.toml]"; do
	case "$call" in *"$want"*) ;; *) fail "cargo install without '$want': $call" ;; esac
done

stage=$work/stage
pkg_make install-pkg ARCH=aarch64 DESTDIR="$stage" > /dev/null || fail "install failed"
got=$(cd "$stage" && find . -mindepth 1 -printf '%y %m /%P\n' | LC_ALL=C sort)
want=$(LC_ALL=C sort <<'EOF'
d 755 /etc
d 755 /etc/edgemq
f 644 /etc/edgemq/edgemq.conf
d 755 /etc/init.d
f 755 /etc/init.d/edgemq
d 755 /lib
d 755 /lib/upgrade
d 755 /lib/upgrade/keep.d
f 644 /lib/upgrade/keep.d/edgemq
d 755 /usr
d 755 /usr/bin
f 755 /usr/bin/edgemq
EOF
)
[ "$got" = "$want" ] || fail "the package's files differ:
got:
$got
want:
$want"
cmp -s "$stage/etc/init.d/edgemq" "$feed_init" || fail "the installed init script is not cross/openwrt/files/edgemq.init"
cmp -s "$stage/etc/edgemq/edgemq.conf" "$repo/rootfs/etc/edgemq/edgemq.conf" ||
	fail "the installed config is not rootfs/etc/edgemq/edgemq.conf"
grep -q '^fake edgemq' <("$stage/usr/bin/edgemq") || fail "the installed binary is not the one built"
has_line "$stage/etc/edgemq/edgemq.conf" "log_dest syslog"
has_line "$stage/lib/upgrade/keep.d/edgemq" "/etc/edgemq/"

# conffiles: files the package installs, the config first; and any
# password or ACL file the config names is one of them.
conffiles=$work/conffiles
pkg_make conffiles ARCH=aarch64 > "$conffiles"
has_line "$conffiles" /etc/edgemq/edgemq.conf
while read -r path; do
	[ -f "$stage$path" ] || fail "conffile $path is not installed"
done < "$conffiles"
sed -n 's/^[[:space:]]*\(password_file\|acl_file\)[[:space:]]\{1,\}//p' "$stage/etc/edgemq/edgemq.conf" |
	while read -r named; do has_line "$conffiles" "$named"; done

# A copy of the recipe inside the feed (net/edgemq) finds the feed's
# helpers at ../../lang/rust, and needs EDGEMQ_SRC; without it, it says so.
copied=$sdk/feeds/packages/net/edgemq-copy
cp -R "$repo/cross/openwrt" "$copied"
if out=$(make --no-print-directory -s -C "$copied" TOPDIR="$sdk" info 2>&1); then
	fail "a copied recipe without EDGEMQ_SRC did not fail: $out"
fi
case "$out" in *"pass EDGEMQ_SRC="*) ;; *) fail "a copied recipe without EDGEMQ_SRC: $out" ;; esac
make --no-print-directory -s -C "$copied" TOPDIR="$sdk" EDGEMQ_SRC="$repo" info > "$info" ||
	fail "a copied recipe with EDGEMQ_SRC does not parse"
has_line "$info" "PKG_VERSION=$version"
# The SDK's metadata scan (DUMP=1) does not fail on it either.
make --no-print-directory -s -C "$copied" TOPDIR="$sdk" DUMP=1 info > /dev/null ||
	fail "a copied recipe without EDGEMQ_SRC fails the metadata scan"

# --- 4. the installed config, checked by a real binary ------------------------
if [ -n "${EDGEMQ_BIN:-}" ]; then
	"$EDGEMQ_BIN" check-config "$stage/etc/edgemq/edgemq.conf" > "$work/check-config.log" 2>&1 ||
		{ cat "$work/check-config.log" >&2; fail "$EDGEMQ_BIN check-config refuses the installed config"; }
fi

echo "openwrt-check: OK (init scripts under $shell, recipe against a stand-in SDK${EDGEMQ_BIN:+, config checked by $EDGEMQ_BIN})"
