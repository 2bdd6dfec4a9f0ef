package deployment_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestChurn drives a Deployment through random rounds of scaling and
// image changes, several per round in quick succession, with pods that
// become ready after random delays. After every round it must converge
// exactly: replicas pods, all of the last image, each controlled by one of
// its ReplicaSets, no other ReplicaSet with pods. Rounds that only change
// the image start from a completed rollout, and are checked at every
// observed moment against maxSurge and maxUnavailable.
func TestChurn(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KELSON_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (KELSON_TEST_SEED=%d repeats the choices; pod timing still varies)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, 7))
	e := start(t, fakekubelet.Config{Delay: 10 * time.Millisecond, Jitter: 200 * time.Millisecond, Seed: seed})
	const surge, unavail = 2, 1
	replicas, image, version := int32(3), "httpd:0", 0
	e.create(t, rolling(newDeployment("churn", replicas, image), intstr.FromInt32(surge), intstr.FromInt32(unavail)))
	eventually(t, func() error { return e.complete("churn", replicas, image) })
	for round := range 6 {
		var c *checker
		var did []string
		switch kind := rnd.IntN(3); kind {
		case 0: // a rollout alone, checked
			c = e.check(t, "app=churn", int(replicas)+surge, int(replicas)-unavail)
			for range 1 + rnd.IntN(2) {
				version++
				image = fmt.Sprintf("httpd:%d", version)
				e.mutate(t, "churn", setImage(image))
				did = append(did, "image "+image)
				time.Sleep(time.Duration(rnd.IntN(300)) * time.Millisecond)
			}
		default: // scaling, maybe mixed with rollouts
			for range 1 + rnd.IntN(3) {
				if rnd.IntN(2) == 0 {
					replicas = rnd.Int32N(9)
					e.mutate(t, "churn", setReplicas(replicas))
					did = append(did, fmt.Sprintf("scale %d", replicas))
				} else {
					version++
					image = fmt.Sprintf("httpd:%d", version)
					e.mutate(t, "churn", func(d *appsv1.Deployment) { setImage(image)(d) })
					did = append(did, "image "+image)
				}
				time.Sleep(time.Duration(rnd.IntN(300)) * time.Millisecond)
			}
		}
		t.Logf("round %d: %v", round, did)
		eventually(t, func() error { return e.complete("churn", replicas, image) })
		if c != nil {
			c.stop()
			c.verify(t)
		}
	}
}
