package raftnode

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/raftnode/autocompact"
)

// validate fills defaults and checks the configuration.
func (c *Config) validate() error {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.DataDir == "" {
		c.DataDir = c.Name + ".kelson"
	}
	if len(c.ListenClientURLs) == 0 {
		c.ListenClientURLs = []string{"http://127.0.0.1:2379"}
	}
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	if len(c.ListenPeerURLs) == 0 {
		c.ListenPeerURLs = []string{"http://127.0.0.1:2380"}
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		c.InitialAdvertisePeerURLs = c.ListenPeerURLs
	}
	if c.InitialCluster == "" {
		c.InitialCluster = c.Name + "=" + c.InitialAdvertisePeerURLs[0]
	}
	if c.InitialClusterState == "" {
		c.InitialClusterState = "new"
	}
	if c.InitialClusterState != "new" && c.InitialClusterState != "existing" {
		return fmt.Errorf("%w: --initial-cluster-state must be new or existing, not %q", ErrBadConfig, c.InitialClusterState)
	}
	if c.InitialClusterToken == "" {
		c.InitialClusterToken = "kelson-cluster"
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = 10000
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 100 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 1000 * time.Millisecond
	}
	if c.HeartbeatInterval < time.Millisecond {
		return fmt.Errorf("%w: --heartbeat-interval must be at least 1ms", ErrBadConfig)
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval {
		return fmt.Errorf("%w: --election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", ErrBadConfig, c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = 2 << 30
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 3 << 19 // 1.5 MiB
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = 128
	}
	if c.LeaseCheckpointInterval == 0 {
		c.LeaseCheckpointInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("member", c.Name)
	policy, err := autocompact.ParsePolicy(c.AutoCompactionMode, c.AutoCompactionRetention)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	c.autoCompaction = policy
	if err := c.Auth.EnsureDefaults().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	for _, list := range [][]string{c.ListenClientURLs, c.AdvertiseClientURLs, c.ListenPeerURLs, c.InitialAdvertisePeerURLs, c.ListenMetricsURLs} {
		for _, u := range list {
			if err := checkURL(u); err != nil {
				return fmt.Errorf("%w: %v", ErrBadConfig, err)
			}
		}
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	_, urls, err := parseInitialCluster(c.InitialCluster)
	if err != nil {
		return err
	}
	mine, ok := urls[c.Name]
	if !ok {
		return fmt.Errorf("%w: --initial-cluster %q has no entry for --name %q", ErrBadConfig, c.InitialCluster, c.Name)
	}
	if !sameSet(mine, c.InitialAdvertisePeerURLs) {
		return fmt.Errorf("%w: --initial-cluster gives %s the peer URLs %v but --initial-advertise-peer-urls says %v", ErrBadConfig, c.Name, mine, c.InitialAdvertisePeerURLs)
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
