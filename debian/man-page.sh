#!/bin/sh
# Prints edgemq(1), a man page made of `edgemq --help`, so that the two
# never disagree. Used by `make install` and `make deb`.
#
#   debian/man-page.sh BIN VERSION > edgemq.1
set -eu
bin=${1:?usage: man-page.sh BIN VERSION}
version=${2:?usage: man-page.sh BIN VERSION}
# Reproducible: the date of the last commit, else SOURCE_DATE_EPOCH, else 1970.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
date=$(date -u -d "@$epoch" +%Y-%m-%d)

cat <<MAN
.TH EDGEMQ 1 "$date" "edgemq $version" "User Commands"
.SH NAME
edgemq \\- a small MQTT broker for routers, gateways and access points
.SH SYNOPSIS
.B edgemq
[\\fB\\-c\\fR \\fICONFIG\\fR] [\\fB\\-v\\fR] [\\fB\\-\\-log\\-level\\fR \\fILEVEL\\fR] [\\fICOMMAND\\fR] [\\fIARGS\\fR]
.SH DESCRIPTION
The text of
.BR "edgemq \\-\\-help" :
.PP
.nf
MAN
# Roff: escape backslashes, keep lines from starting with a control
# character, and write minus signs as such.
"$bin" --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
cat <<'MAN'
.fi
.SH FILES
.TP
.I /etc/edgemq/edgemq.conf
the configuration (mosquitto.conf style)
.TP
.I /var/lib/edgemq/
the store (persistence_location)
.SH SIGNALS
SIGHUP re-reads the configuration and reopens log files; SIGTERM stops
cleanly, flushing the store; SIGUSR1 flushes the store and logs every counter.
.SH SEE ALSO
.BR mosquitto.conf (5),
.BR systemd.exec (5),
/usr/share/doc/edgemq/README.md.gz
MAN
