#!/bin/sh
# Builds the Debian package from a `make install` tree, with dpkg-deb alone
# (no network, no debhelper): the unit (DynamicUser), the config as a
# conffile, the man page, the docs, copyright and changelog. `make deb`
# runs it; README.md, "Debian package", says what lintian says of it.
#
#   debian/build-deb.sh STAGE VERSION OUT_DIR   (prints the .deb's path)
#
# STAGE is a `make install PREFIX=/usr UNITDIR=/lib/systemd/system
# DESTDIR=STAGE` tree; it gains DEBIAN/ and the doc files here.
set -eu
stage=${1:?usage: build-deb.sh STAGE VERSION OUT_DIR}
version=${2:?usage: build-deb.sh STAGE VERSION OUT_DIR}
out=${3:?usage: build-deb.sh STAGE VERSION OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture)
debversion="$version-1"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

doc="$stage/usr/share/doc/edgemq"
install -m 0644 "$here/copyright" "$doc/copyright"
# changelog.Debian, stamped with the last commit's date (reproducible).
{
    echo "edgemq ($debversion) unstable; urgency=medium"
    echo
    echo "  * Package built from the edgemq repository (make deb)."
    echo
    echo " -- edgemq developers <edgemq@users.noreply.github.com>  $(date -u -R -d "@$epoch")"
} > "$doc/changelog.Debian"
gzip -9n -f "$doc/changelog.Debian"
gzip -9n -f "$stage/usr/share/man/man1/edgemq.1"

# Library dependencies, as dpkg-shlibdeps finds them (it wants a
# debian/control beside it: a scratch one).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/debian"
printf 'Source: edgemq\n\nPackage: edgemq\nArchitecture: any\n' > "$scratch/debian/control"
depends=$(cd "$scratch" && dpkg-shlibdeps -O "$stage/usr/bin/edgemq" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: edgemq
Version: $debversion
Architecture: $arch
Maintainer: edgemq developers <edgemq@users.noreply.github.com>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: small MQTT broker for routers and gateways
 edgemq is an MQTT 3.1 and 3.1.1 broker for constrained hardware: a
 mosquitto.conf-style configuration, a crash-safe store, bridges to a
 cloud broker, TLS and WebSocket listeners, password files, tokens, JWTs
 and ACLs. It runs as a systemd service with a dynamic user in a sandbox;
 the service is installed but not enabled: check /etc/edgemq/edgemq.conf,
 then run systemctl enable --now edgemq.
CONTROL
echo /etc/edgemq/edgemq.conf > "$stage/DEBIAN/conffiles"
install -m 0755 "$here/postrm" "$stage/DEBIAN/postrm"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
    xargs md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/edgemq_${debversion}_$arch.deb"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
