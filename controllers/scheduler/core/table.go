package core

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// ShortName is a scorer's column header in WriteTable.
func ShortName(scorer string) string {
	switch scorer {
	case NodeResourcesFit:
		return "fit"
	case NodeResourcesBalancedAllocation:
		return "balanced"
	case TaintToleration:
		return "taints"
	case NodeAffinity:
		return "node-affinity"
	case InterPodAffinity:
		return "pod-affinity"
	case PodTopologySpread:
		return "spread"
	}
	return scorer
}

// WriteTable writes a decision as two tables: every evaluated node's
// filter verdict (each failing filter on its own line when the decision
// was made with Explain), then the feasible nodes' scores, best first:
//
//	NODE  RESULT    FILTER            REASON
//	n1    fails     NodeResourcesFit  Insufficient cpu
//	n2    selected
//
//	NODE  TOTAL  fit×1  balanced×1  taints×3  node-affinity×2  pod-affinity×2  spread×2
//	n2    ...
func WriteTable(w io.Writer, d *Decision) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRESULT\tFILTER\tREASON")
	vs := slices.Clone(d.Verdicts)
	slices.SortFunc(vs, func(a, b Verdict) int { return strings.Compare(a.Node.Name, b.Node.Name) })
	for _, v := range vs {
		switch {
		case v.Status.OK() && v.Node.Name == d.Node:
			fmt.Fprintf(tw, "%s\tselected\t\t\n", v.Node.Name)
		case v.Status.OK():
			fmt.Fprintf(tw, "%s\tfits\t\t\n", v.Node.Name)
		default:
			fails := v.Failures
			if len(fails) == 0 {
				fails = []Status{v.Status}
			}
			for i, s := range fails {
				name, result := "", ""
				if i == 0 {
					name, result = v.Node.Name, "fails"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, result, s.Plugin, strings.Join(s.Reasons, "; "))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Totals) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	hdr := []string{"NODE", "TOTAL"}
	for _, s := range d.Scorers {
		hdr = append(hdr, fmt.Sprintf("%s×%d", ShortName(s.Name), s.Weight))
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	order := make([]int, len(d.Feasible))
	for i := range order {
		order[i] = i
	}
	name := func(i int) string { return d.Verdicts[d.Feasible[i]].Node.Name }
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(d.Totals[b], d.Totals[a]), strings.Compare(name(a), name(b)))
	})
	for _, i := range order {
		row := []string{name(i), fmt.Sprint(d.Totals[i])}
		for s := range d.Scorers {
			row = append(row, fmt.Sprint(d.Score(i, s)))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
