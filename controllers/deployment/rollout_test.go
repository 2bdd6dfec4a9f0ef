package deployment_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestRollingUpdate rolls a Deployment through image changes, some while
// the previous rollout is still going, and checks at every observed
// moment that its live pods stay within replicas + maxSurge and its ready
// ones at or above replicas - maxUnavailable.
func TestRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavail     intstr.IntOrString
		maxTotal, minReady int
	}{
		{"surge only", 4, intstr.FromInt32(1), intstr.FromInt32(0), 5, 4},
		{"unavailable only", 4, intstr.FromInt32(0), intstr.FromInt32(1), 4, 3},
		{"percentages", 6, intstr.FromString("34%"), intstr.FromString("34%"), 9, 4}, // surge rounds up to 3, unavailable down to 2
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, fakekubelet.Config{Jitter: 100 * time.Millisecond, Seed: 1})
			name := "web"
			d := e.create(t, rolling(newDeployment(name, tc.replicas, "httpd:1"), tc.surge, tc.unavail))
			eventually(t, func() error { return e.complete(name, tc.replicas, "httpd:1") })
			c := e.check(t, "app="+name, tc.maxTotal, tc.minReady)
			e.mutate(t, name, setImage("httpd:2"))
			eventually(t, func() error { return e.complete(name, tc.replicas, "httpd:2") })
			// a change mid-rollout: three templates at once
			e.mutate(t, name, setImage("httpd:3"))
			time.Sleep(150 * time.Millisecond)
			e.mutate(t, name, setImage("httpd:4"))
			eventually(t, func() error { return e.complete(name, tc.replicas, "httpd:4") })
			c.verify(t)

			rses, err := e.replicaSets(d)
			if err != nil {
				t.Fatal(err)
			}
			var revs []string
			for _, rs := range rses {
				revs = append(revs, fmt.Sprintf("%s:%d", rs.Spec.Template.Spec.Containers[0].Image, deployment.Revision(&rs)))
			}
			if !slices.Equal(revs, []string{"httpd:1:1", "httpd:2:2", "httpd:3:3", "httpd:4:4"}) {
				t.Fatalf("revisions %v", revs)
			}
			cur, _ := e.Client.AppsV1().Deployments(ns).Get(e.ctx, name, getOpts)
			if deployment.Revision(cur) != 4 {
				t.Fatalf("deployment revision %q", cur.Annotations[deployment.AnnotationRevision])
			}
			prog := condition(cur, appsv1.DeploymentProgressing)
			if prog == nil || prog.Reason != deployment.ReasonNewRSAvailable || prog.Status != "True" {
				t.Fatalf("progressing %+v", prog)
			}
			if av := condition(cur, appsv1.DeploymentAvailable); av == nil || av.Status != "True" || av.Reason != deployment.ReasonMinimumAvailable {
				t.Fatalf("available %+v", av)
			}
			if ev := e.events(name, deployment.EventScalingReplicaSet); len(ev) < 4 {
				t.Fatalf("scaling events %v", ev)
			}
		})
	}
}
