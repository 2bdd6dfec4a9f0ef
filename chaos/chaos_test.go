package chaos

import (
	"os"
	"testing"
	"time"
)

// TestChaos runs three members under the workload and the fault schedule,
// then checks the history: linearizability (porcupine), watches against
// the store's history, HashKV agreement, acknowledged writes, leases.
//
// By default a short run (40s of faults); `make chaos SEED=… DURATION=…`
// runs longer.
func TestChaos(t *testing.T) {
	seed := testSeed(t)
	dur := testDuration(t, 40*time.Second)
	cfg := Config{Binary: kelsonBin, Dir: workDir(t), Seed: seed, Duration: dur, Logf: t.Logf}
	if s := os.Getenv(envFaults); s != "" {
		w, err := ParseFaultWeights(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Faults = w
	}
	if !longRun() {
		cfg.PorcupineTimeout = 45 * time.Second
		if cfg.Faults == nil {
			cfg.Faults, _ = ParseFaultWeights(ShortFaultWeights)
		}
	}
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	if rep.Violations.Total() > 0 {
		t.Errorf("seed %d: %d violations (see the report above)", seed, rep.Violations.Total())
	}
}
