package bench

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// APICommon holds what every Kubernetes API workload shares: which API
// server, which namespace, how its clients talk and how hard they push. The
// zero value means the defaults documented per field.
type APICommon struct {
	// Kubeconfig: the kubeconfig file naming the API server and the
	// credentials [--kubeconfig]. Default $KUBECONFIG.
	Kubeconfig string `json:"kubeconfig"`
	// Namespace the workload's pods live in, created if missing
	// [--namespace]. Default "kelson-bench".
	Namespace string `json:"namespace"`
	// Keep leaves the namespace and its pods in place at the end [--keep];
	// otherwise the run deletes the pods it made (one deletecollection by
	// label) and the namespace. Default false.
	Keep bool `json:"keep"`
	// ContentType of requests and answers: "protobuf" or "json"
	// [--content-type]. Default "protobuf" (what controllers use).
	ContentType string `json:"content_type"`
	// Conns: HTTP connections (one client-go transport each) the clients
	// share, client j on connection j % Conns [--conns]. HTTP/2 carries
	// every request of a connection as a stream. Default 1.
	Conns int `json:"conns"`
	// Clients: goroutines issuing requests, each waiting for its answer
	// before its next (a closed loop) [--clients]. Default 1.
	Clients int `json:"clients"`
	// Rate caps requests per second over all clients; 0: no cap [--rate].
	Rate float64 `json:"rate"`
	// PreloadClients: goroutines creating the preloaded pods (not
	// measured). Default 32.
	PreloadClients int `json:"preload_clients"`
	// DialTimeout bounds the first request (the server's version) that
	// checks the API server answers [--dial-timeout]. Default 10s.
	DialTimeout time.Duration `json:"dial_timeout"`
	// ServerPIDs are the API server's processes (e.g. kube-apiserver and
	// its store): their RSS and CPU time are read from /proc before and
	// after the measured phase and summed (APIStats.Process)
	// [--server-pid]. Default none: not measured.
	ServerPIDs []int `json:"server_pids"`
	// Seed seeds the random choices; 0 picks one from the clock. Default 0.
	Seed uint64 `json:"seed"`
	// Progress, when set, is told of the run's progress. Default nil.
	Progress Progress `json:"-"`
}

const (
	contentProtobuf = "protobuf"
	contentJSON     = "json"
)

func (c APICommon) withDefaults() APICommon {
	if c.Kubeconfig == "" {
		c.Kubeconfig = os.Getenv("KUBECONFIG")
	}
	if c.Namespace == "" {
		c.Namespace = "kelson-bench"
	}
	if c.ContentType == "" {
		c.ContentType = contentProtobuf
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Clients == 0 {
		c.Clients = 1
	}
	if c.PreloadClients == 0 {
		c.PreloadClients = 32
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c
}

func (c APICommon) validate() error {
	switch {
	case c.Kubeconfig == "":
		return fmt.Errorf("%w: no kubeconfig: give --kubeconfig or set KUBECONFIG", ErrBadConfig)
	case c.ContentType != contentProtobuf && c.ContentType != contentJSON:
		return fmt.Errorf("%w: content type %q: want protobuf or json", ErrBadConfig, c.ContentType)
	case c.Conns < 1, c.Clients < 1, c.PreloadClients < 1:
		return fmt.Errorf("%w: conns %d, clients %d, preload clients %d: want at least 1 each",
			ErrBadConfig, c.Conns, c.Clients, c.PreloadClients)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %g: want requests per second, or 0 for no limit", ErrBadConfig, c.Rate)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: dial timeout %v is negative", ErrBadConfig, c.DialTimeout)
	}
	for _, pid := range c.ServerPIDs {
		if pid <= 0 {
			return fmt.Errorf("%w: server pid %d: want a process ID", ErrBadConfig, pid)
		}
	}
	if !validName(c.Namespace) {
		return fmt.Errorf("%w: namespace %q: want a DNS label (lower-case letters, digits, '-')", ErrBadConfig, c.Namespace)
	}
	return nil
}

// common is the loop's view of c.
func (c APICommon) common() Common {
	return Common{Clients: c.Clients, Rate: c.Rate, Seed: c.Seed, Progress: c.Progress}
}

func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// APICreateConfig: each request creates a new pod (about 1.5 KB: labels,
// annotations, one container with resources, env, ports and a probe).
type APICreateConfig struct {
	APICommon
	// Total creates [--total]. Default 10000.
	Total int64 `json:"total"`
}

// APIGetConfig: Objects pods are preloaded (not measured), then each
// request gets one of them by name, at random.
type APIGetConfig struct {
	APICommon
	// Total gets [--total]. Default 10000.
	Total int64 `json:"total"`
	// Objects preloaded [--objects]. Default 1000.
	Objects int `json:"objects"`
}

// APIListConfig: Objects pods are preloaded (not measured), then each
// request lists every pod of the namespace in one answer (no limit),
// measuring the full list's latency.
type APIListConfig struct {
	APICommon
	// Total lists [--total]. Default 100.
	Total int64 `json:"total"`
	// Objects preloaded [--objects]. Default 1000.
	Objects int `json:"objects"`
	// ResourceVersion of the lists [--resource-version]: "" is a
	// consistent read (served from the watch cache once it has caught up
	// with the store), "0" any recent state. Default "".
	ResourceVersion string `json:"resource_version"`
	// Raw reads each answer's bytes without decoding them (client-go's
	// REST client, DoRaw): the latency is then the server's and the
	// transfer's, without the client's decoding, which for 10,000 pods
	// costs about as much CPU as serving them [--raw]. Default false.
	Raw bool `json:"raw"`
}

// APIWatchConfig: Watchers watch the namespace's pods over WatchConns
// connections; then Writes writes are made by Clients clients: the first
// half creates pods, the second half updates them (one label and one
// annotation). Each write carries its sequence number in an annotation, so
// each event's delivery latency is its receipt minus its write's send time.
// Every watcher should receive every write's event exactly once in
// resourceVersion order; the run checks that (WatchStats.Violations).
type APIWatchConfig struct {
	APICommon
	// Watchers on the namespace's pods [--watchers]. Default 1000.
	Watchers int `json:"watchers"`
	// WatchConns: connections the watchers share, watcher w on
	// connection w % WatchConns [--watch-conns]. Default 10 (at most
	// Watchers).
	WatchConns int `json:"watch_conns"`
	// Writes: creates then updates [--writes]. Default 100.
	Writes int64 `json:"writes"`
	// DrainTimeout: how long to wait after the last write for every
	// event; events still missing then are reported missing
	// [--drain-timeout]. Default 30s.
	DrainTimeout time.Duration `json:"drain_timeout"`
}

// APIMixConfig: a Kubernetes-like mix over Objects preloaded pods (not
// measured): Total requests drawn by Mix, while Watchers watch the
// namespace (their delivery latency is the kind "watch"):
//
//	create  a new pod
//	update  get a live pod, change a label, update it; a 409 Conflict (a
//	        concurrent update won) is counted in Counters["update_conflicts"]
//	        and is not an error
//	get     a live pod by name
//	list    the pods of one app label (a tenth of them), label selector
//	delete  a live pod
//
// A get, update or delete that finds its pod deleted by a concurrent delete
// is counted in Counters["not_found"] and is not an error.
type APIMixConfig struct {
	APICommon
	// Total requests [--total]. Default 10000.
	Total int64 `json:"total"`
	// Objects preloaded [--objects]. Default 1000.
	Objects int `json:"objects"`
	// Mix: relative weights [--mix].
	// Default create=10,update=30,get=40,list=15,delete=5.
	Mix APIMix `json:"mix"`
	// Watchers in the background; -1: none [--watchers]. Default 10.
	Watchers int `json:"watchers"`
	// ResourceVersion of the lists [--resource-version]. Default "".
	ResourceVersion string `json:"resource_version"`
}

// APIMix weighs the request kinds of APIMixConfig.
type APIMix struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Get    int `json:"get"`
	List   int `json:"list"`
	Delete int `json:"delete"`
}

// ParseAPIMix parses "create=10,update=30,get=40,list=15,delete=5"; kinds
// left out weigh 0.
func ParseAPIMix(s string) (APIMix, error) {
	w, err := parseWeights(s, "create=10,update=30,get=40,list=15,delete=5", "create", "update", "get", "list", "delete")
	return APIMix{Create: w["create"], Update: w["update"], Get: w["get"], List: w["list"], Delete: w["delete"]}, err
}

func (m APIMix) String() string {
	return fmt.Sprintf("create=%d,update=%d,get=%d,list=%d,delete=%d", m.Create, m.Update, m.Get, m.List, m.Delete)
}

// The kinds of the mix, in APIMix's order.
const (
	mixCreate = iota
	mixUpdate
	mixGet
	mixList
	mixDelete
	mixWatch
)

// pick maps r in [0, total weight) to a request kind.
func (m APIMix) pick(r int) int {
	for k, w := range []int{m.Create, m.Update, m.Get, m.List, m.Delete} {
		if r < w {
			return k
		}
		r -= w
	}
	return mixGet
}

func (m APIMix) total() int { return m.Create + m.Update + m.Get + m.List + m.Delete }

func validRV(rv string) error {
	if rv == "" || rv == "0" {
		return nil
	}
	if _, err := strconv.ParseUint(rv, 10, 64); err != nil {
		return fmt.Errorf("%w: resource version %q: want \"\" (consistent), \"0\" (any) or a number", ErrBadConfig, rv)
	}
	return nil
}

func (c APICreateConfig) withDefaults() APICreateConfig {
	c.APICommon = c.APICommon.withDefaults()
	if c.Total == 0 {
		c.Total = 10000
	}
	return c
}

func (c APIGetConfig) withDefaults() APIGetConfig {
	c.APICommon = c.APICommon.withDefaults()
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.Objects == 0 {
		c.Objects = 1000
	}
	return c
}

func (c APIListConfig) withDefaults() APIListConfig {
	c.APICommon = c.APICommon.withDefaults()
	if c.Total == 0 {
		c.Total = 100
	}
	if c.Objects == 0 {
		c.Objects = 1000
	}
	return c
}

func (c APIWatchConfig) withDefaults() APIWatchConfig {
	c.APICommon = c.APICommon.withDefaults()
	if c.Watchers == 0 {
		c.Watchers = 1000
	}
	if c.WatchConns == 0 {
		c.WatchConns = 10
	}
	c.WatchConns = min(c.WatchConns, max(c.Watchers, 1))
	if c.Writes == 0 {
		c.Writes = 100
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return c
}

func (c APIMixConfig) withDefaults() APIMixConfig {
	c.APICommon = c.APICommon.withDefaults()
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.Objects == 0 {
		c.Objects = 1000
	}
	if c.Mix == (APIMix{}) {
		c.Mix = APIMix{Create: 10, Update: 30, Get: 40, List: 15, Delete: 5}
	}
	if c.Watchers == 0 {
		c.Watchers = 10
	}
	return c
}

func (c APICreateConfig) validate() error {
	return firstErr(c.APICommon.validate(), positive("total", c.Total))
}

func (c APIGetConfig) validate() error {
	return firstErr(c.APICommon.validate(), positive("total", c.Total), positive("objects", int64(c.Objects)))
}

func (c APIListConfig) validate() error {
	return firstErr(c.APICommon.validate(), positive("total", c.Total), positive("objects", int64(c.Objects)),
		validRV(c.ResourceVersion))
}

func (c APIWatchConfig) validate() error {
	var drainErr error
	if c.DrainTimeout < 0 {
		drainErr = fmt.Errorf("%w: drain timeout %v is negative", ErrBadConfig, c.DrainTimeout)
	}
	return firstErr(c.APICommon.validate(), positive("watchers", int64(c.Watchers)),
		positive("watch conns", int64(c.WatchConns)), positive("writes", c.Writes), drainErr)
}

func (c APIMixConfig) validate() error {
	var errs []error
	if c.Mix.total() < 1 {
		errs = append(errs, fmt.Errorf("%w: mix %s: want a positive weight", ErrBadConfig, c.Mix))
	}
	if c.Watchers < -1 {
		errs = append(errs, fmt.Errorf("%w: watchers %d: want -1 (none) or more", ErrBadConfig, c.Watchers))
	}
	return firstErr(append([]error{c.APICommon.validate(), positive("total", c.Total),
		positive("objects", int64(c.Objects)), validRV(c.ResourceVersion)}, errs...)...)
}
