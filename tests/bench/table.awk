# Medians and ratios from compare.sh's results: one line per run,
# "TAG<TAB>BROKER<TAB>{json}". Variables: brokers (space-separated, the
# first is edgemq), metrics (file of "label|tag|key|scale|floor" lines),
# off_fanin1 (the persistence-off fan-in QoS 1 median, for the
# persistence-on floor), tcp_fanin1 (edgemq's fan-in QoS 1 median over
# TCP, for the TLS floor). A floor's reference "row:TAG:KEY" is the first
# broker's median of KEY in TAG's runs (a 5.0 row against its 3.1.1 one). Prints a Markdown table; floors are checked on
# the first broker's median.

function num(json, key,    m) {
    if (match(json, "\"" key "\":-?[0-9.]+")) {
        m = substr(json, RSTART, RLENGTH)
        sub(/^"[^"]*":/, "", m)
        return m
    }
    return ""
}
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {
        t = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
    if (n % 2) return a[(n + 1) / 2] + 0
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(v) {
    if (v == "") return "–"
    if (v >= 100000) return sprintf("%.0fk", v / 1000)
    if (v >= 1000) return sprintf("%.1fk", v / 1000)
    if (v >= 100 || v == int(v)) return sprintf("%.0f", v)
    return sprintf("%.2f", v)
}
# The first broker's median of KEY over the runs of TAG.
function first_median(tag, key,    list, nl, L, k, v) {
    list = ""
    nl = split(lines[tag, b[1]], L, "\n")
    for (k = 1; k <= nl; k++) {
        v = num(L[k], key)
        if (v != "") list = list " " v
    }
    return median(list)
}
BEGIN { FS = "\t" }
NR == FNR && FILENAME == metrics {
    spec[++nspec] = $0
    next
}
{
    tag = $1; broker = $2; json = $3
    lines[tag, broker] = lines[tag, broker] "\n" json
    runs[tag, broker]++
}
END {
    nb = split(brokers, b, " ")
    head = "| metric |"
    rule = "|---|"
    for (i = 1; i <= nb; i++) { head = head " " b[i] " |"; rule = rule "---|" }
    for (i = 2; i <= nb; i++) { head = head " " b[1] "/" b[i] " |"; rule = rule "---|" }
    print head " floor | met |"
    print rule "---|---|"
    for (s = 1; s <= nspec; s++) {
        split(spec[s], f, "|")
        label = f[1]; tag = f[2]; key = f[3]; scale = f[4] + 0; floor = f[5]
        row = "| " label " |"
        for (i = 1; i <= nb; i++) {
            list = ""
            nl = split(lines[tag, b[i]], L, "\n")
            for (k = 1; k <= nl; k++) {
                v = num(L[k], key)
                if (v != "") list = list " " v
            }
            if (key == "out_of_order" || key == "lost" || key == "duplicated" || key ~ /_failed$/) {
                # Worst run, not median: one lost message is one too many.
                m = ""
                n2 = split(list, a2, " ")
                for (k = 1; k <= n2; k++) if (m == "" || a2[k] + 0 > m) m = a2[k] + 0
            } else {
                m = median(list)
            }
            med[i] = (m == "") ? "" : m / scale
            row = row " " fmt(med[i]) " |"
        }
        for (i = 2; i <= nb; i++)
            row = row " " ((med[1] != "" && med[i] != "" && med[i] != 0) ? sprintf("%.2f", med[1] / med[i]) : "–") " |"
        met = "–"
        if (floor != "" && med[1] != "") {
            split(floor, g, " ")   # op ref factor
            ref = ""
            for (i = 1; i <= nb; i++) if (b[i] == g[2]) ref = med[i]
            if (g[2] == "abs") ref = 1
            if (g[2] == "off") ref = off_fanin1
            if (g[2] == "tcp") ref = tcp_fanin1
            # row:TAG:KEY: the first broker's median of another scenario
            # in the same results (5.0 against 3.1.1).
            if (g[2] ~ /^row:/) {
                split(g[2], r, ":")
                ref = first_median(r[2], r[3]) / scale
            }
            if (ref != "") {
                lim = ref * g[3]
                met = ((g[1] == "le" && med[1] <= lim) || (g[1] == "ge" && med[1] >= lim)) ? "yes" : "**no**"
            }
            floor = g[1] == "le" ? "≤ " : "≥ "
            floor = floor (g[2] == "abs" ? fmt(g[3] + 0) : (g[3] " × " g[2]))
            if (g[2] ~ /^row:/) floor = (g[1] == "le" ? "≤ " : "≥ ") g[3] " × " r[2]
            if ((g[2] == "off" || g[2] == "tcp" || g[2] ~ /^row:/) && ref != "")
                floor = floor " (" fmt(ref) " → " fmt(lim) "; here " sprintf("%.2f", med[1] / ref) " ×)"
        }
        print row " " floor " | " met " |"
    }
}
