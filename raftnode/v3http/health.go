package v3http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Health is /health's body, as etcd writes it.
type Health struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// healthFacts are what /health decides on, gathered by the handler.
type healthFacts struct {
	alarms       []*pb.AlarmMember
	alarmErr     error
	leader       uint64
	serializable bool
	// readErr is the result of the read: nil when it succeeded or was not
	// made (an earlier check failed).
	readErr error
}

// decideHealth is etcd's /health verdict: alarms not excluded, then (for
// a linearizable check) the leader, then the read.
func decideHealth(f healthFacts, excluded map[string]bool) Health {
	if f.alarmErr != nil {
		return Health{Health: "false", Reason: fmt.Sprintf("ALARM ERROR:%v", f.alarmErr)}
	}
	for _, a := range f.alarms {
		if excluded[a.Alarm.String()] {
			continue
		}
		switch a.Alarm {
		case pb.AlarmType_NOSPACE:
			return Health{Health: "false", Reason: "ALARM NOSPACE"}
		case pb.AlarmType_CORRUPT:
			return Health{Health: "false", Reason: "ALARM CORRUPT"}
		default:
			return Health{Health: "false", Reason: "ALARM UNKNOWN"}
		}
	}
	if !f.serializable && f.leader == 0 {
		return Health{Health: "false", Reason: "RAFT NO LEADER"}
	}
	if f.readErr != nil {
		return Health{Health: "false", Reason: fmt.Sprintf("RANGE ERROR:%s", f.readErr)}
	}
	return Health{Health: "true"}
}

// check is one named /livez or /readyz check.
type check struct {
	name string
	run  func(context.Context) error
}

// checkResult is one check's outcome.
type checkResult struct {
	name string
	err  error
}

// decideChecks is the /livez and /readyz verdict: ok when every check
// passed; the reason lists each as etcd does ("[+]name ok" or
// "[-]name failed: err").
func decideChecks(results []checkResult) (ok bool, reason string) {
	var b strings.Builder
	ok = true
	for _, r := range results {
		if r.err != nil {
			ok = false
			fmt.Fprintf(&b, "[-]%s failed: %v\n", r.name, r.err)
			continue
		}
		fmt.Fprintf(&b, "[+]%s ok\n", r.name)
	}
	return ok, b.String()
}

// selectChecks returns the checks not excluded, in order.
func selectChecks(all []check, excluded map[string]bool) []check {
	out := make([]check, 0, len(all))
	for _, c := range all {
		if !excluded[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// querySet returns the non-empty values of a query parameter as a set.
func querySet(r *http.Request, name string) map[string]bool {
	set := map[string]bool{}
	for _, v := range r.URL.Query()[name] {
		if v != "" {
			set[v] = true
		}
	}
	return set
}

// healthServer serves /health, /livez and /readyz over the member.
type healthServer struct {
	cfg *Config
}

func (h *healthServer) alarms(ctx context.Context) ([]*pb.AlarmMember, error) {
	resp, err := h.cfg.Services.Maintenance.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	if err != nil {
		return nil, err
	}
	return resp.Alarms, nil
}

// read makes etcd's health read: one key, keys only, within ReadTimeout.
func (h *healthServer) read(ctx context.Context, serializable bool) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ReadTimeout)
	defer cancel()
	_, err := h.cfg.Services.KV.Range(ctx, &pb.RangeRequest{Key: []byte("health"), KeysOnly: true, Limit: 1, Serializable: serializable})
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (no answer within %v)", err, h.cfg.ReadTimeout)
	}
	return err
}

func (h *healthServer) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	f := healthFacts{serializable: r.URL.Query().Get("serializable") == "true", leader: h.cfg.Member.Leader()}
	f.alarms, f.alarmErr = h.alarms(r.Context())
	excluded := querySet(r, "exclude")
	// Read only when the cheaper checks pass, as etcd: without a leader a
	// linearizable read would only wait out its timeout.
	if pre := decideHealth(f, excluded); pre.Health == "true" {
		f.readErr = h.read(r.Context(), f.serializable)
	}
	v := decideHealth(f, excluded)
	d, _ := json.Marshal(v)
	if v.Health != "true" {
		h.cfg.Logger.Warn("/health error", "output", string(d), "status", http.StatusServiceUnavailable)
		http.Error(w, string(d), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write(d)
}

// livezChecks and readyzChecks are etcd's, in a fixed order.
func (h *healthServer) livezChecks() []check {
	return []check{{"serializable_read", func(ctx context.Context) error { return h.read(ctx, true) }}}
}

func (h *healthServer) readyzChecks() []check {
	return []check{
		{"data_corruption", func(ctx context.Context) error {
			as, err := h.alarms(ctx)
			if err != nil {
				return err
			}
			for _, a := range as {
				if a.Alarm == pb.AlarmType_CORRUPT {
					return fmt.Errorf("alarm activated: %s", a.Alarm)
				}
			}
			return nil
		}},
		{"serializable_read", func(ctx context.Context) error { return h.read(ctx, true) }},
		{"linearizable_read", func(ctx context.Context) error { return h.read(ctx, false) }},
		{"non_learner", func(context.Context) error {
			if h.cfg.Member.IsLearner() {
				return errors.New("not supported for learner")
			}
			return nil
		}},
	}
}

// installChecks serves root (/livez) running every check not excluded, and
// root/NAME running one.
func (h *healthServer) installChecks(mux *http.ServeMux, root string, checks []check) {
	mux.HandleFunc(root, func(w http.ResponseWriter, r *http.Request) {
		h.serveChecks(w, r, root, selectChecks(checks, querySet(r, "exclude")))
	})
	for _, c := range checks {
		mux.HandleFunc(root+"/"+c.name, func(w http.ResponseWriter, r *http.Request) {
			h.serveChecks(w, r, root+"/"+c.name, []check{c})
		})
	}
}

func (h *healthServer) serveChecks(w http.ResponseWriter, r *http.Request, path string, checks []check) {
	if !allowGet(w, r) {
		return
	}
	results := make([]checkResult, len(checks))
	for i, c := range checks {
		results[i] = checkResult{name: c.name, err: c.run(r.Context())}
	}
	ok, reason := decideChecks(results)
	if !ok {
		h.cfg.Logger.Error("health check error", "path", path, "reason", reason, "status", http.StatusServiceUnavailable)
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		_, _ = fmt.Fprint(w, reason)
	}
	_, _ = fmt.Fprint(w, "ok\n")
}

// allowGet answers 405 to anything but GET, as etcd.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// defaultReadTimeout bounds a health read when Config.ReadTimeout is 0.
const defaultReadTimeout = 5 * time.Second
