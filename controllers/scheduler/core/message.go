package core

import (
	"fmt"
	"sort"
	"strings"
)

// NoNodesMessage is FailedScheduling's message in a cluster without nodes.
const NoNodesMessage = "no nodes available to schedule pods"

// Message is the FailedScheduling message of a decision that chose no
// node, worded as kube-scheduler words it:
//
//	0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu.
//
// Each node contributes the reasons of its first failing filter; the
// "count reason" items are sorted as strings. A pre-filter failure
// replaces the histogram:
//
//	0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims.
//
// Preemption's verdict, when there is one, follows (PreemptionMessage).
func (d *Decision) Message() string {
	if d.NumNodes == 0 && d.PreFilter.OK() {
		return NoNodesMessage
	}
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available:", d.NumNodes)
	if !d.PreFilter.OK() {
		b.WriteString(" " + strings.Join(d.PreFilter.Reasons, ", ") + ".")
		return b.String()
	}
	hist := map[string]int{}
	for _, v := range d.Verdicts {
		for _, r := range v.Status.Reasons {
			hist[r]++
		}
	}
	if len(hist) > 0 {
		b.WriteString(" " + histogram(hist) + ".")
	}
	return b.String()
}

// histogram renders reason counts as "n reason, ..." sorted as strings.
func histogram(hist map[string]int) string {
	items := make([]string, 0, len(hist))
	for r, n := range hist {
		items = append(items, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(items)
	return strings.Join(items, ", ")
}
