# Stand-ins for what /etc/rc.common and procd.sh give an OpenWrt init
# script, sourced before the script under test (tests/openwrt/check.sh).
# Each procd call is recorded, one line, as its name and then each argument
# in brackets, to $PROCD_RECORD; so are chown (there is no edgemq account
# on the test machine) and chmod (the test checks the modes asked for
# rather than needing root to set them). Nothing here talks to procd.

: "${PROCD_RECORD:?set PROCD_RECORD to the file that receives the calls}"

_procd_record() {
	{
		printf '%s' "$1"
		shift
		for a in "$@"; do printf ' [%s]' "$a"; done
		printf '\n'
	} >> "$PROCD_RECORD"
}

# procd.sh makes its wrappers the same way (_procd_wrapper).
for _procd_fn in procd_open_instance procd_close_instance procd_set_param \
	procd_append_param procd_add_jail procd_add_jail_mount procd_add_jail_mount_rw \
	procd_open_trigger procd_close_trigger procd_add_reload_trigger chown chmod; do
	eval "$_procd_fn() { _procd_record $_procd_fn \"\$@\"; }"
done
unset _procd_fn
