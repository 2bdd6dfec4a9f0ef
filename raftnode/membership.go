package raftnode

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is one member of the cluster as the replicated membership knows it.
// Peer URLs come with the conf change that added it; Name and ClientURLs are
// published by the member itself once it runs (ClusterMemberAttrSet).
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

func (m *Member) toPB() *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: append([]string(nil), m.PeerURLs...),
		ClientURLs: append([]string(nil), m.ClientURLs...), IsLearner: m.IsLearner}
}

// membership is the replicated member list. It is changed only by applying
// committed entries (in the raft loop), so it always matches the applied
// conf state.
//
// Invariant: the membership a member applies an entry against is a pure
// function of the log before that entry — the same on every replica. The
// apply rules (an add of a Removed ID, or a removal of an unknown one, is
// turned into an empty conf change) read it, so a replica that knew more
// (say, a later removal) when replaying an entry would take another
// decision and give raft another configuration: a joiner that had adopted
// the running cluster's list and then replayed the bootstrap add of a member
// removed since, rejected it and panicked on an empty configuration. So the
// applied membership starts empty (bootstrap, join; the log's first entries
// add the members) or from a raft snapshot's (taken at the snapshot's index;
// restart, snapshot install), never from a newer list. The newest list a
// member knows is persisted too (metaMembership) but is used only to find
// peers (Node.bootPeers) until the replay catches up.
type membership struct {
	ClusterID uint64             `json:"clusterID"`
	Token     string             `json:"token"`
	Members   map[uint64]*Member `json:"members"`
	// Removed members may never come back with the same ID.
	Removed map[uint64]bool `json:"removed,omitempty"`
}

func (ms *membership) clone() *membership {
	c := &membership{ClusterID: ms.ClusterID, Token: ms.Token, Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
	for id, m := range ms.Members {
		mm := *m
		mm.PeerURLs = append([]string(nil), m.PeerURLs...)
		mm.ClientURLs = append([]string(nil), m.ClientURLs...)
		c.Members[id] = &mm
	}
	for id := range ms.Removed {
		c.Removed[id] = true
	}
	return c
}

// sorted returns the members in ID order.
func (ms *membership) sorted() []*Member {
	out := make([]*Member, 0, len(ms.Members))
	for _, m := range ms.Members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (ms *membership) pbMembers() []*pb.Member {
	var out []*pb.Member
	for _, m := range ms.sorted() {
		out = append(out, m.toPB())
	}
	return out
}

func (ms *membership) encode() []byte {
	b, _ := json.Marshal(ms) // maps of plain structs: cannot fail
	return b
}

func decodeMembership(b []byte) (*membership, error) {
	ms := &membership{}
	if err := json.Unmarshal(b, ms); err != nil {
		return nil, fmt.Errorf("raftnode: decode membership: %w", err)
	}
	if ms.Members == nil {
		ms.Members = map[uint64]*Member{}
	}
	if ms.Removed == nil {
		ms.Removed = map[uint64]bool{}
	}
	return ms, nil
}

// memberID derives a member's ID from its peer URLs and the cluster token,
// so every bootstrap member computes the same IDs for everyone.
func memberID(peerURLs []string, token string) uint64 {
	urls := append([]string(nil), peerURLs...)
	sort.Strings(urls)
	return hashID(strings.Join(urls, ",") + "|" + token)
}

// clusterID derives the cluster ID from the bootstrap member IDs.
func clusterID(ids []uint64, token string) uint64 {
	sorted := append([]uint64(nil), ids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var b strings.Builder
	for _, id := range sorted {
		fmt.Fprintf(&b, "%x,", id)
	}
	return hashID(b.String() + "|" + token)
}

func hashID(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	id := binary.BigEndian.Uint64(sum[:8])
	if id == 0 { // 0 is raft's "none"
		id = 1
	}
	return id
}

// parseInitialCluster parses "name=url,name=url2,other=url3" into the peer
// URLs of each name, in order of first appearance.
func parseInitialCluster(s string) (names []string, urls map[string][]string, err error) {
	urls = map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" || u == "" {
			return nil, nil, fmt.Errorf("%w: --initial-cluster entry %q is not name=url", ErrBadConfig, part)
		}
		if err := checkURL(u); err != nil {
			return nil, nil, fmt.Errorf("%w: --initial-cluster entry %q: %v", ErrBadConfig, part, err)
		}
		if _, seen := urls[name]; !seen {
			names = append(names, name)
		}
		urls[name] = append(urls[name], u)
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%w: --initial-cluster is empty", ErrBadConfig)
	}
	return names, urls, nil
}

// checkURL accepts http://host:port and https://host:port, what the
// member can serve and the transport can dial.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q must start with http:// or https://", s)
	}
	if u.Host == "" || u.Port() == "" {
		return fmt.Errorf("URL %q needs host:port", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("URL %q must not have a path", s)
	}
	return nil
}

// hostPort strips the scheme from a URL for dialing and listening.
func hostPort(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	return u.Host
}
