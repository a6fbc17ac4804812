# Sourced by the cross/patch-*.sh scripts: each makes a patched copy of one
# crate from cargo's registry under OUT_DIR, never committed here.
#
#   patch_copy NAME VERSION OUT_DIR   if OUT_DIR/NAME-VERSION is already
#                                     patched, print it and exit 0; else set
#                                     DEST (that path) and WORK (a writable
#                                     copy of the registry source to patch)
#   patch_done                        mark WORK patched, move it to DEST,
#                                     print DEST

registry_src() {
    for dir in "$CARGO_HOME"/registry/src/*/"$1"; do
        [ -f "$dir/Cargo.toml" ] && echo "$dir" && return 0
    done
    return 1
}

patch_copy() {
    DEST="$3/$1-$2"
    if [ -f "$DEST/.edgemq-patched" ]; then
        echo "$DEST"
        exit 0
    fi
    CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
    # Not unpacked yet (a fresh machine): let cargo fetch the locked deps.
    src=$(registry_src "$1-$2") || { cargo fetch >&2; src=$(registry_src "$1-$2") || true; }
    [ -n "$src" ] || { echo "$0: $1 $2 not found under $CARGO_HOME/registry/src" >&2; exit 1; }
    WORK="$DEST.tmp"
    rm -rf "$WORK"
    mkdir -p "$3"
    cp -R "$src" "$WORK"
    chmod -R u+w "$WORK"
}

patch_done() {
    touch "$WORK/.edgemq-patched"
    rm -rf "$DEST"
    mv "$WORK" "$DEST"
    echo "$DEST"
}
