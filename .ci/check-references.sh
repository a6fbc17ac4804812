#!/usr/bin/env bash
# Every reference in the repository resolves: code, tests, docs, Makefiles
# and scripts cite the repository's own documents by section
# ("docs/design.md ## Durability", "README.md ## Performance",
# docs/transports.md) or the MQTT specifications ("[MQTT-3.3.2-2]",
# "MQTT 3.1.1 §4.7", "MQTT 3.1.1 and 5.0 §4.7", "MQTT 3.1.1 §4.7, §3.8",
# "MQTT 3.1.1 §2-§3") or an RFC ("RFC 6455 §5.1"), never a document the repository does not hold. It
# fails, printing the offending lines, on:
#
#   - a SPEC, ARCHITECTURE or STYLE document, whatever follows the word;
#   - an issue cited by number, with or without "#", or "the issue's ...":
#     an upstream bug is cited by its URL instead;
#   - a section sign followed by a number that is not part of an MQTT
#     citation as above (a bare section of an unnamed document);
#   - a test named after such a section ("..._spec_section_8");
#   - a placeholder for a normative statement ("[MQTT-4.3.3-?]").
#
#   .ci/check-references.sh     (from anywhere; it changes to the repository root)
#
# Searches the files git knows of, committed or not yet added (so target/
# and everything else .gitignore names is skipped), text files only. This
# script is left out: it spells out what it looks for.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

self=.ci/check-references.sh

# Whole words, so that UNSPECIFIED or SystemCallArchitectures do not count.
words='(^|[^[:alnum:]_])(SPEC|ARCHITECTURE|STYLE)([^[:alnum:]_]|$)'
issues='(^|[^[:alnum:]_])[Ii]ssues? #?[0-9]|[Tt]he issue'"'"'s'
tests='spec_section'
placeholder='\[MQTT-[^]]*\?'
# An MQTT citation: "MQTT" and a version (or two, joined by "and"), then one
# section or several joined by "-", "–", ", ", " and " or " or ".
num='[0-9]+(\.[0-9]+)*'
mqtt="MQTT $num( and $num)? §$num((-|–|, | and | or )§$num)*"
# A public standard cited the same way: "RFC 6455 §5.1".
rfc="RFC [0-9]+('s)? §$num((-|–|, | and | or )§$num)*"

# git grep over the working tree (tracked and untracked, not ignored);
# without git (an unpacked tarball), grep everything but target/ and .git/.
search() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git grep --untracked -nI -E "$1" -- . ":(exclude)$self" || true
    else
        grep -rnI -E --exclude-dir=target --exclude-dir=.git "$1" . |
            sed 's|^\./||' | grep -v "^$self:" || true
    fi
}

found=$(
    {
        search "$words|$issues|$tests|$placeholder"
        # Lines with a numbered section sign, kept only if one remains once
        # the MQTT citations are taken out (h/g keep the line as it was).
        search '§[0-9]' | sed -E "h; s/$mqtt//g; s/$rfc//g; /§[0-9]/!d; g"
    } | sort -t: -k1,1 -k2,2n -u
)

if [ -n "$found" ]; then
    {
        echo "check-references: these lines cite documents the repository does not hold."
        echo "Cite a section of docs/design.md, docs/transports.md or README.md"
        echo "(e.g. \"docs/design.md ## Durability\"), an MQTT statement or section"
        echo "(\"[MQTT-4.3.3-2]\", \"MQTT 3.1.1 §4.7\"), an upstream bug by its URL, or"
        echo "drop the citation where the sentence stands on its own:"
        echo
        printf '%s\n' "$found"
    } >&2
    exit 1
fi
echo "check-references: every reference resolves"
