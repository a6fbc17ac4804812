#!/bin/sh
# Installs the package on this machine, checks the installed config with
# the installed binary, purges it, and fails on anything left behind; then
# lintian, with the tags README.md ("Debian package") argues suppressed
# (debian/lintian-overrides.txt). Run as root (CI) or with sudo.
#
#   debian/check-deb.sh DEB
set -eu
deb=${1:?usage: check-deb.sh DEB}
here=$(cd "$(dirname "$0")" && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

if dpkg -s edgemq >/dev/null 2>&1; then
    echo "check-deb: edgemq is already installed here; not touching it" >&2
    exit 1
fi
$sudo dpkg -i "$deb" >/dev/null
/usr/bin/edgemq check-config /etc/edgemq/edgemq.conf
files=$(dpkg -L edgemq)
# A DynamicUser service's store, as systemd would have left it.
$sudo mkdir -p /var/lib/private/edgemq
$sudo ln -sfn private/edgemq /var/lib/edgemq
$sudo dpkg -P edgemq >/dev/null
left=""
for f in $files; do
    # Shared directories (/usr, /etc...) stay; the package's own go.
    if [ -e "$f" ] && { [ ! -d "$f" ] || case $f in *edgemq*) true ;; *) false ;; esac; }; then
        left="$left $f"
    fi
done
for f in /etc/edgemq /var/lib/edgemq /var/lib/private/edgemq; do
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done
if [ -n "$left" ]; then
    echo "check-deb: dpkg -P left:$left" >&2
    exit 1
fi
echo "check-deb: dpkg -i, check-config of the installed config, dpkg -P: nothing left"

tags=$(grep -v '^#' "$here/lintian-overrides.txt" | cut -d' ' -f1 | paste -sd, -)
root=""
[ "$(id -u)" -ne 0 ] || root=--allow-root
out=$(lintian $root ${tags:+--suppress-tags "$tags"} "$deb" 2>&1) || true
if [ -n "$out" ]; then
    echo "$out" >&2
    echo "check-deb: lintian FAILED" >&2
    exit 1
fi
echo "check-deb: lintian $(lintian --version | cut -d' ' -f2): clean${tags:+ (argued in README.md: $tags)}"
