package openapi

import (
	"sort"
	"testing"
)

// TestDefinitionsClosed checks that every definition a generated definition
// depends on was generated too: a missing one means a package is missing
// from scripts/openapi-gen.sh's inputs.
func TestDefinitionsClosed(t *testing.T) {
	defs := Definitions()
	missing := map[string][]string{}
	for name, d := range defs {
		for _, dep := range d.Dependencies {
			if _, ok := defs[dep]; !ok {
				missing[dep] = append(missing[dep], name)
			}
		}
	}
	var names []string
	for dep := range missing {
		names = append(names, dep)
	}
	sort.Strings(names)
	for _, dep := range names {
		t.Errorf("%s is referenced (by %v) but not generated: add its package to scripts/openapi-gen.sh", dep, missing[dep])
	}
}
