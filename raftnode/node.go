package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
	"github.com/kelson-dev/kelson/raftnode/raftlog"
	"github.com/kelson-dev/kelson/raftnode/transport"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Node is one member: a raft state machine driven by one goroutine (run),
// its durable log (raftlog), its replicated store (kvstore) and its peer
// transport. Clients reach it through the v3rpc.Backend methods.
//
// Ownership: the raft loop goroutine alone touches rn and applies entries;
// other goroutines talk to it through loopc (closures run on the loop).
// membership is replaced (copy on write) by the loop and read by anyone
// under mu. The store pointer changes only when a snapshot from the leader
// replaces the whole store.
type Node struct {
	cfg  Config
	log  *slog.Logger
	id   uint64
	rlog *raftlog.Log
	tr   *transport.Transport
	// tls: the loaded TLS settings (set by Start before boot); peers are
	// dialled with tls.peer for https:// URLs.
	tls memberTLS

	store atomic.Pointer[kvstore.Store]
	// auth is the member's auth state and tokens; the loop applies auth
	// entries to it and reloads it when a snapshot replaces the store.
	auth *authpkg.Store

	rn    *raft.RawNode // owned by the loop
	loopc chan func()
	propc chan proposal // client proposals, batched by the loop (proposals.go)
	// propBatch is the loop's reusable batch buffer.
	propBatch []proposal
	stopc     chan struct{}
	done      chan struct{}
	stopOnce  sync.Once
	// failure is the error that stopped the loop, if any.
	failure atomic.Pointer[error]

	leader  atomic.Uint64
	term    atomic.Uint64
	applied atomic.Uint64 // last raft index applied (store, membership)
	isLead  atomic.Bool

	mu      sync.RWMutex
	members *membership // replaced, never mutated in place
	confSt  *raftpb.ConfState

	waits       *waitRegistry
	appliedWait *indexWaiter
	reads       *readIndexer
	lessor      *lessor
	reqID       atomic.Uint64

	// snapshot bookkeeping, owned by the loop
	snapIndex      uint64 // index of the newest raft snapshot
	storeDir       string // live store directory, relative to DataDir (storedir.go)
	stagedMu       sync.Mutex
	staged         map[uint64]string // snapshot index -> restored store dir awaiting install
	storeOpts      kvstore.Options
	requestTimeout time.Duration
	// bootPeers are the members to connect to before the log replays: the
	// bootstrap list, the cluster a joiner was told of, or the newest list
	// a restarting member knew. Set by boot, read-only afterwards.
	bootPeers *membership
	// bootCommit is the commit index this member had durably before it
	// started: until it has applied that far again, its applied state is
	// older than what it once served. Set by boot, read-only afterwards.
	bootCommit uint64
	fwd        leaderConns

	// inst are the member's metric recorders (metrics.go).
	inst *instruments

	// leaderChange is closed (and replaced) whenever the leader changes.
	leaderChangeMu sync.Mutex
	leaderChange   chan struct{}
}

func (n *Node) leaderChangeC() <-chan struct{} {
	n.leaderChangeMu.Lock()
	defer n.leaderChangeMu.Unlock()
	if n.leaderChange == nil {
		n.leaderChange = make(chan struct{})
	}
	return n.leaderChange
}

func (n *Node) signalLeaderChange() {
	n.leaderChangeMu.Lock()
	defer n.leaderChangeMu.Unlock()
	if n.leaderChange != nil {
		close(n.leaderChange)
	}
	n.leaderChange = make(chan struct{})
}

const (
	raftDirName = "raft"
	// defaultCatchUpEntries stay in the log after a snapshot so that a
	// slightly slow follower catches up from the log, not with a snapshot.
	defaultCatchUpEntries = 5000
	metaMembership        = "membership"
	metaMemberID          = "member_id"
)

// newNode opens the data directory and prepares (but does not start) the
// member; boot then decides how it joins the cluster.
func newNode(cfg Config) (*Node, error) {
	n := &Node{
		cfg:         cfg,
		log:         cfg.Logger,
		loopc:       make(chan func(), 4096),
		propc:       make(chan proposal, 4096),
		stopc:       make(chan struct{}),
		done:        make(chan struct{}),
		staged:      map[uint64]string{},
		waits:       newWaitRegistry(),
		appliedWait: newIndexWaiter(),
		inst:        newInstruments(),
	}
	n.requestTimeout = 5*time.Second + 2*cfg.ElectionTimeout
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: create data dir: %w", err)
	}
	if err := syncDir(filepath.Dir(filepath.Clean(cfg.DataDir))); err != nil {
		return nil, fmt.Errorf("raftnode: sync parent of data dir: %w", err)
	}
	if err := checkRestoreFinished(cfg.DataDir); err != nil {
		return nil, err
	}
	storeDir, err := currentStoreDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	removeStaleStores(cfg.DataDir, storeDir) // unfinished transfers and switches
	n.storeDir = storeDir
	rlog, err := raftlog.Open(filepath.Join(cfg.DataDir, raftDirName), raftlog.Options{Logger: cfg.Logger, FS: cfg.FS})
	if err != nil {
		return nil, fmt.Errorf("raftnode: open raft log in %s: %w", cfg.DataDir, err)
	}
	n.rlog = rlog
	n.storeOpts = kvstore.Options{Logger: cfg.Logger, QuotaBytes: cfg.QuotaBackendBytes, MaxTxnOps: cfg.MaxTxnOps, FS: cfg.FS}
	store, err := kvstore.Open(filepath.Join(cfg.DataDir, storeDir), n.storeOpts)
	if err != nil {
		rlog.Close()
		return nil, fmt.Errorf("raftnode: open store in %s: %w", cfg.DataDir, err)
	}
	n.store.Store(store)
	authOpts := cfg.Auth
	authOpts.Logger = cfg.Logger.With("component", "auth")
	authOpts.AppliedWait = n.appliedWait.wait
	if n.auth, err = authpkg.New(authOpts); err != nil {
		store.Close()
		rlog.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if err := n.auth.Load(store); err != nil {
		store.Close()
		rlog.Close()
		return nil, fmt.Errorf("raftnode: load auth state: %w", err)
	}
	return n, nil
}

// boot decides between restart, bootstrap and join, and creates the raw node.
func (n *Node) boot(ctx context.Context) error {
	cfg := n.cfg
	raftCfg := &raft.Config{
		ElectionTick:              int(cfg.ElectionTimeout / cfg.HeartbeatInterval),
		HeartbeatTick:             1,
		Storage:                   n.rlog,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           512,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{n.log.With("component", "raft")},
		StepDownOnRemoval:         true,
	}
	idBytes, err := n.rlog.Meta(metaMemberID)
	if err != nil && !errors.Is(err, raftlog.ErrNotFound) {
		return err
	}
	if len(idBytes) > 0 {
		return n.restart(raftCfg, idBytes)
	}
	if cfg.InitialClusterState == "existing" {
		return n.join(ctx, raftCfg)
	}
	return n.bootstrap(raftCfg)
}

func (n *Node) restart(raftCfg *raft.Config, idBytes []byte) error {
	// newest is the newest member list this member knew: the peers to talk
	// to until the replay catches up. It is not the base the replay
	// applies against (see membership).
	newest, err := n.loadMembership()
	if err != nil {
		return err
	}
	if _, err := fmt.Sscanf(string(idBytes), "%x", &n.id); err != nil || n.id == 0 {
		return fmt.Errorf("raftnode: member ID %q in %s is corrupt", idBytes, n.cfg.DataDir)
	}
	snap, err := n.rlog.Snapshot()
	if err != nil {
		return fmt.Errorf("raftnode: read snapshot: %w", err)
	}
	n.snapIndex = snap.GetMetadata().GetIndex()
	// The base is the membership at the snapshot's index (empty before the
	// first snapshot: the log starts with the bootstrap adds); the entries
	// after it are replayed and re-apply their conf changes.
	base := &membership{ClusterID: newest.ClusterID, Token: newest.Token, Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
	if n.snapIndex > 0 {
		if base, err = decodeMembership(snap.GetData()); err != nil {
			return fmt.Errorf("raftnode: membership of snapshot %d: %w", n.snapIndex, err)
		}
	}
	if self, ok := newest.Members[n.id]; ok && !sameSet(self.PeerURLs, n.cfg.InitialAdvertisePeerURLs) {
		return fmt.Errorf("%w: data dir %s belongs to member %x of cluster %x, whose peer URLs are %v, but this member advertises %v: "+
			"point --data-dir at this member's own directory, or change the member's URLs with `etcdctl member update`",
			ErrBadConfig, n.cfg.DataDir, n.id, newest.ClusterID, self.PeerURLs, n.cfg.InitialAdvertisePeerURLs)
	}
	n.members = base
	n.bootPeers = newest
	hs, cs, err := n.rlog.InitialState()
	if err != nil {
		return err
	}
	n.bootCommit = hs.GetCommit()
	n.confSt = cs
	raftCfg.ID = n.id
	// Replay from the snapshot: raft re-delivers committed entries after it;
	// the store skips those it already holds (Apply is idempotent by index)
	// while conf changes are re-applied to raft's configuration.
	raftCfg.Applied = n.snapIndex
	n.applied.Store(n.snapIndex)
	// Start waits for the commit index to be applied before serving; when
	// that is the snapshot's own index (a restored backup's first boot, or
	// a restart right after a snapshot) it is applied already.
	n.appliedWait.advance(n.snapIndex)
	rn, err := raft.NewRawNode(raftCfg)
	if err != nil {
		return fmt.Errorf("raftnode: restart raft: %w", err)
	}
	n.rn = rn
	n.log.Info("restarting member", "id", fmt.Sprintf("%x", n.id), "cluster", fmt.Sprintf("%x", newest.ClusterID),
		"snapshot_index", n.snapIndex, "store_revision", n.store.Load().Rev(), "store_applied", n.store.Load().AppliedIndex())
	return nil
}

func (n *Node) bootstrap(raftCfg *raft.Config) error {
	ms, ids, err := initialMembership(n.cfg)
	if err != nil {
		return err
	}
	var peers []raft.Peer
	for _, id := range ids {
		ctx, _ := jsonMember(ms.Members[id])
		peers = append(peers, raft.Peer{ID: id, Context: ctx})
	}
	n.id = memberID(n.cfg.InitialAdvertisePeerURLs, n.cfg.InitialClusterToken)
	// The conf change entries of the bootstrap add the members as they are
	// applied; start from an empty list with the cluster identity only.
	base := &membership{ClusterID: ms.ClusterID, Token: ms.Token, Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
	if err := n.saveIdentity(base); err != nil {
		return err
	}
	n.members = base
	n.confSt = &raftpb.ConfState{}
	raftCfg.ID = n.id
	rn, err := raft.NewRawNode(raftCfg)
	if err != nil {
		return fmt.Errorf("raftnode: start raft: %w", err)
	}
	if err := rn.Bootstrap(peers); err != nil {
		return fmt.Errorf("raftnode: bootstrap raft: %w", err)
	}
	n.rn = rn
	n.bootPeers = ms
	n.log.Info("bootstrapping new cluster", "id", fmt.Sprintf("%x", n.id), "cluster", fmt.Sprintf("%x", ms.ClusterID), "members", len(ids))
	return nil
}

// join starts a member added with MemberAdd: it asks the running members
// (the other --initial-cluster entries) for the cluster ID and its own ID.
func (n *Node) join(ctx context.Context, raftCfg *raft.Config) error {
	names, urls, err := parseInitialCluster(n.cfg.InitialCluster)
	if err != nil {
		return err
	}
	var remote *membership
	var lastErr error
	for _, name := range names {
		if name == n.cfg.Name {
			continue
		}
		for _, u := range urls[name] {
			ms, err := fetchMembership(ctx, u, n.tls.peerDialOption(u))
			if err == nil {
				remote = ms
				break
			}
			lastErr = err
		}
		if remote != nil {
			break
		}
	}
	if remote == nil {
		return fmt.Errorf("%w: --initial-cluster-state existing: no running member answered (%v); check --initial-cluster", ErrBadConfig, lastErr)
	}
	for _, m := range remote.Members {
		if sameSet(m.PeerURLs, n.cfg.InitialAdvertisePeerURLs) {
			n.id = m.ID
		}
	}
	if n.id == 0 {
		return fmt.Errorf("%w: the cluster has no member with peer URLs %v: add it first (etcdctl member add %s --peer-urls=%s)",
			ErrBadConfig, n.cfg.InitialAdvertisePeerURLs, n.cfg.Name, n.cfg.InitialAdvertisePeerURLs[0])
	}
	// The running cluster's member list tells whom to talk to (and is
	// persisted as the newest list known, for a restart before anything is
	// applied); the applied membership starts empty like everyone's and is
	// built by the log or a snapshot (see membership). Adopting the remote
	// list here would make this member judge the replayed conf changes
	// against a later state than the others did.
	if err := n.saveIdentity(remote); err != nil {
		return err
	}
	n.members = &membership{ClusterID: remote.ClusterID, Token: remote.Token, Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
	n.confSt = &raftpb.ConfState{}
	n.bootPeers = remote
	raftCfg.ID = n.id
	rn, err := raft.NewRawNode(raftCfg)
	if err != nil {
		return fmt.Errorf("raftnode: start raft: %w", err)
	}
	n.rn = rn
	n.log.Info("joining existing cluster", "id", fmt.Sprintf("%x", n.id), "cluster", fmt.Sprintf("%x", remote.ClusterID))
	return nil
}

func (n *Node) saveIdentity(ms *membership) error {
	if err := n.rlog.SetMeta(metaMembership, ms.encode()); err != nil {
		return err
	}
	return n.rlog.SetMeta(metaMemberID, []byte(fmt.Sprintf("%x", n.id)))
}

func (n *Node) loadMembership() (*membership, error) {
	b, err := n.rlog.Meta(metaMembership)
	if err != nil {
		return nil, fmt.Errorf("raftnode: read membership: %w", err)
	}
	return decodeMembership(b)
}

// clusterIDValue returns the cluster ID.
func (n *Node) clusterIDValue() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.members.ClusterID
}

// run is the raft loop. It exits when stopc closes or on a fatal error
// (a failed log write), after which the node refuses requests.
func (n *Node) run() {
	defer close(n.done)
	ticker := time.NewTicker(n.cfg.HeartbeatInterval)
	defer ticker.Stop()
	campaigned := false
	for {
		select {
		case <-ticker.C:
			n.rn.Tick()
		case fn := <-n.loopc:
			fn()
			// Drain what is queued so one Ready covers many requests.
			for i := 0; i < 1024; i++ {
				select {
				case fn := <-n.loopc:
					fn()
					continue
				default:
				}
				break
			}
		case p := <-n.propc:
			n.stepProposals(p)
		case <-n.stopc:
			return
		}
		for n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				n.log.Error("raft loop stopped: cannot continue safely; restart the member", "err", err)
				n.failure.Store(&err)
				return
			}
		}
		if !campaigned {
			// Once the bootstrap or replayed conf changes are applied
			// (raft refuses to campaign before), a lone voter elects
			// itself instead of waiting out an election timeout.
			campaigned = true
			n.campaignIfAlone()
		}
	}
}

// do runs fn on the raft loop; false if the node stopped.
func (n *Node) do(fn func()) bool {
	select {
	case n.loopc <- fn:
		return true
	case <-n.done:
		return false
	}
}

// handleReady persists, sends and applies one Ready, in raft's order: the
// leader sends before its own write (the write and replication overlap);
// followers send only after the write, since their messages acknowledge it.
func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		old := n.leader.Swap(rd.SoftState.Lead)
		if lead := rd.SoftState.Lead; lead != 0 && lead != old {
			n.inst.leaderChanges.Add(1)
			n.log.Info("leader changed", "leader", fmt.Sprintf("%x", lead), "previous", fmt.Sprintf("%x", old))
		}
		if old != 0 && old != rd.SoftState.Lead {
			// Proposals forwarded to the old leader may be lost: waiters
			// give them a grace period, then answer "leader changed"
			// rather than wait out the request timeout (see wait).
			n.signalLeaderChange()
		}
		lead := rd.SoftState.RaftState == raft.StateLeader
		if was := n.isLead.Swap(lead); was != lead {
			n.lessor.setLeader(lead)
			if lead {
				n.log.Info("became leader", "term", n.rn.BasicStatus().GetTerm())
			}
		}
	}
	if rd.HardState != nil && rd.HardState.Term != nil {
		n.term.Store(rd.HardState.GetTerm())
	}
	if rd.HardState != nil && rd.HardState.Commit != nil {
		n.inst.commit.Store(rd.HardState.GetCommit())
	}
	lead := n.isLead.Load()
	if lead {
		n.send(rd.Messages)
	}
	// A snapshot's store goes live before raft records the snapshot (which
	// drops the log behind it): a crash in between leaves the old log with
	// the new store, which skips the entries it already holds.
	if rd.Snapshot != nil && rd.Snapshot.GetMetadata().GetIndex() > 0 {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	writes := rd.HardState != nil || len(rd.Entries) > 0 || rd.Snapshot != nil
	start := time.Now()
	if err := n.rlog.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("save raft log: %w", err)
	}
	if writes {
		n.inst.walFsync.ObserveDuration(time.Since(start))
	}
	if !lead {
		n.send(rd.Messages)
	}
	if err := n.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	for _, rs := range rd.ReadStates {
		n.reads.resolved(rs.RequestCtx, rs.Index)
	}
	n.rn.Advance(rd)
	return n.maybeSnapshot()
}

// send hands messages to the transport; snapshots get the store's stream.
func (n *Node) send(msgs []*raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	if n.isLead.Load() {
		n.inst.rtt.sending(msgs, time.Now())
	}
	plain := msgs[:0:0]
	for _, m := range msgs {
		if m.GetType() == raftpb.MessageType_MsgSnap {
			n.sendSnapshot(m)
			continue
		}
		plain = append(plain, m)
	}
	if len(plain) > 0 {
		n.tr.Send(plain)
	}
}

// sendSnapshot sends the follower a snapshot made for it now, as etcd does,
// not the one raft took from the log's storage: that was recorded up to
// SnapshotCount entries ago, and its ConfState lacks any member added since
// — such a member's raft ignores it ("not in the ConfState"), and would
// wait for the next periodic snapshot while the leader streamed the whole
// store again and again. The fresh snapshot is at the applied index, with
// the applied ConfState and membership (consistent: all three change only
// on the loop, which runs this between applies).
//
// The store streamed with it is at an applied index >= the snapshot's (the
// store is past the raft applied index while a restart replays; and the
// stream begins when the transport reads it, maybe after more applies).
// The follower makes that store live, then replays the entries after the
// snapshot's index: the store skips those it holds, conf changes and member
// attributes are re-applied on top of the snapshot's membership.
//
// raft set the follower's progress to wait for the older index; the
// follower's answer (its new last index) moves it past that at once.
func (n *Node) sendSnapshot(m *raftpb.Message) {
	snap, err := n.currentSnapshot()
	if err != nil {
		n.log.Warn("cannot make a snapshot to send", "to", fmt.Sprintf("%x", m.GetTo()), "err", err)
		// ReportSnapshot queues on the loop, which is running this.
		go n.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		return
	}
	m.Snapshot = snap
	pr, pw := io.Pipe()
	store := n.store.Load()
	go func() {
		pw.CloseWithError(store.Snapshot(pw))
	}()
	n.log.Info("sending snapshot", "to", fmt.Sprintf("%x", m.GetTo()), "index", snap.GetMetadata().GetIndex(),
		"log_snapshot_index", n.snapIndex)
	n.tr.SendSnapshot(m, pr)
}

// currentSnapshot describes the applied state: index, term, ConfState and
// membership. Called on the loop.
func (n *Node) currentSnapshot() (*raftpb.Snapshot, error) {
	applied := n.applied.Load()
	term, err := n.rlog.Term(applied)
	if err != nil {
		return nil, fmt.Errorf("term of applied index %d: %w", applied, err)
	}
	n.mu.RLock()
	data := n.members.encode()
	n.mu.RUnlock()
	cs := &raftpb.ConfState{}
	if n.confSt != nil {
		cs = proto.Clone(n.confSt).(*raftpb.ConfState) // the transport reads it later
	}
	return &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(applied),
			Term:      new(term),
			ConfState: raftpb.EnsureConfState(cs),
		},
	}, nil
}

// Stop stops the raft loop, the transport and the store. Pending requests
// fail with ErrStopped.
func (n *Node) Stop() { n.stopOnce.Do(n.stop) }

func (n *Node) stop() {
	close(n.stopc)
	<-n.done
	if n.lessor != nil {
		n.lessor.stop()
	}
	if n.reads != nil {
		n.reads.stopAndWait()
	}
	if n.tr != nil {
		n.tr.Stop()
	}
	n.waits.failAll(ErrStopped)
	if s := n.store.Load(); s != nil {
		s.Close()
	}
	n.rlog.Close()
}

// stopped returns why the node no longer serves, or nil.
func (n *Node) stopped() error {
	select {
	case <-n.done:
		if p := n.failure.Load(); p != nil {
			return fmt.Errorf("%w: %v", ErrStopped, *p)
		}
		return ErrStopped
	default:
		return nil
	}
}

// campaignIfAlone starts an election at once when this member is the only
// voter: a single-member cluster then serves immediately instead of after an
// election timeout.
func (n *Node) campaignIfAlone() {
	st := n.rn.Status()
	voters := st.Config.Voters.IDs()
	if _, self := voters[n.id]; self && len(voters) == 1 {
		if err := n.rn.Campaign(); err != nil {
			n.log.Debug("campaign", "err", err)
		}
	}
}
