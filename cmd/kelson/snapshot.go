package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/cobra"
)

// `kelson snapshot` is etcdutl's snapshot command for Kelson's snapshot
// files (what `etcdctl snapshot save` downloads from a Kelson member).

const snapshotRestoreLong = `Restore a snapshot saved with "etcdctl snapshot save" into the data dir of one
member of a NEW cluster, as "etcdutl snapshot restore" does for etcd.

Run it once per member of the new cluster, each time with that member's
--name, --initial-advertise-peer-urls and --data-dir and the same
--initial-cluster and --initial-cluster-token; then start every member with
"kelson store" and the same flags. The members form a new cluster (new member
and cluster IDs) whose data is the snapshot's, at the snapshot's revision.

The file's sha256 trailer is verified first: a corrupt or truncated file is
refused. The data dir must not exist or must be empty.`

const snapshotRestoreExample = `  etcdctl --endpoints 10.0.0.1:2379 snapshot save backup.db
  # on each of a, b, c, with its own name and URL:
  kelson snapshot restore backup.db --name a --data-dir /var/lib/kelson \
    --initial-cluster a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380 \
    --initial-cluster-token new-cluster --initial-advertise-peer-urls http://10.0.0.1:2380
  kelson store --name a --data-dir /var/lib/kelson \
    --listen-client-urls http://10.0.0.1:2379 --advertise-client-urls http://10.0.0.1:2379 \
    --listen-peer-urls http://10.0.0.1:2380 --initial-advertise-peer-urls http://10.0.0.1:2380 \
    --initial-cluster a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380`

func newSnapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot <subcommand>",
		Short: "Restore or inspect a snapshot saved with etcdctl snapshot save",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"kelson snapshot\"; want restore or status", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSnapshotRestoreCommand(), newSnapshotStatusCommand())
	return cmd
}

func oneFileArg(use string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("kelson %s takes one argument, the snapshot file (got %d)", use, len(args))
		}
		return nil
	}
}

func newSnapshotRestoreCommand() *cobra.Command {
	var (
		cfg       raftnode.Config
		skipHash  bool
		logFormat string
		logLevel  string
	)
	cmd := &cobra.Command{
		Use:     "restore <file> [flags]",
		Short:   "Restore a snapshot file into a new member's data dir",
		Long:    snapshotRestoreLong,
		Example: snapshotRestoreExample,
		Args:    oneFileArg("snapshot restore"),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			res, err := raftnode.RestoreSnapshot(cfg, args[0], raftnode.RestoreOptions{SkipHashCheck: skipHash})
			if err != nil {
				return err
			}
			dataDir := cfg.DataDir
			if dataDir == "" {
				dataDir = "the default data dir"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s (revision %d) into %s as member %x of new cluster %x; start it with kelson store and the same --name, --data-dir and --initial-advertise-peer-urls\n",
				args[0], res.Snapshot.Revision, dataDir, res.MemberID, res.ClusterID)
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&cfg.Name, "name", "", `name of this member of the new cluster (default "default")`)
	f.StringVar(&cfg.DataDir, "data-dir", "", `data dir to create: must not exist or be empty (default "<name>.kelson")`)
	f.StringVar(&cfg.InitialCluster, "initial-cluster", "", `members of the new cluster, name=peerURL,... (default "<name>=<first advertise peer URL>")`)
	f.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", "", `token of the new cluster (default "kelson-cluster")`)
	f.StringSliceVar(&cfg.InitialAdvertisePeerURLs, "initial-advertise-peer-urls", nil, "peer URLs of this member (default http://127.0.0.1:2380)")
	f.BoolVar(&skipHash, "skip-hash-check", false, "accept a file without the sha256 trailer etcdctl snapshot save appends (its own CRC is still checked)")
	f.StringVar(&logFormat, "log-format", "text", `log format: "text" or "json"`)
	f.StringVar(&logLevel, "log-level", "warn", `log level: debug, info, warn or error`)
	return cmd
}

func newSnapshotStatusCommand() *cobra.Command {
	var (
		writeOut string
		skipHash bool
	)
	cmd := &cobra.Command{
		Use:   "status <file> [flags]",
		Short: "Verify a snapshot file and print its hash, revision, total keys and size",
		Long: `Verify a snapshot file saved with "etcdctl snapshot save" and print, as etcdutl
snapshot status does: HASH (the CRC-32C of Kelson's snapshot stream, in hex),
REVISION (the store's revision), TOTAL KEYS (records in the snapshot: every
kept revision of every key, the leases and the store's meta records) and
TOTAL SIZE (of the stream, without the padding and sha256 trailer).`,
		Args: oneFileArg("snapshot status"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if writeOut != "simple" && writeOut != "table" && writeOut != "json" {
				return usagef("--write-out %q: want simple, table or json", writeOut)
			}
			info, err := raftnode.SnapshotFileStatus(args[0], raftnode.RestoreOptions{SkipHashCheck: skipHash})
			if err != nil {
				return err
			}
			return printSnapshotStatus(cmd.OutOrStdout(), writeOut, info.Hash, info.Revision, info.Records, info.Size)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&writeOut, "write-out", "w", "simple", "output format: simple, table or json")
	f.BoolVar(&skipHash, "skip-hash-check", false, "accept a file without the sha256 trailer etcdctl snapshot save appends")
	return cmd
}

// printSnapshotStatus prints in etcdutl's formats.
func printSnapshotStatus(w io.Writer, format string, hash uint32, rev int64, keys int, size int64) error {
	switch format {
	case "json":
		b, err := json.Marshal(struct {
			Hash      uint32 `json:"hash"`
			Revision  int64  `json:"revision"`
			TotalKey  int    `json:"totalKey"`
			TotalSize int64  `json:"totalSize"`
		}{hash, rev, keys, size})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "table":
		hdr := []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"}
		row := []string{fmt.Sprintf("%x", hash), fmt.Sprint(rev), fmt.Sprint(keys), humanBytes(size)}
		_, err := io.WriteString(w, asciiTable(hdr, row))
		return err
	default:
		_, err := fmt.Fprintf(w, "%x, %d, %d, %s\n", hash, rev, keys, humanBytes(size))
		return err
	}
}

// asciiTable draws one header and one row as etcdctl's tables look:
// headers centred, values right-aligned.
func asciiTable(hdr, row []string) string {
	widths := make([]int, len(hdr))
	for i := range hdr {
		widths[i] = max(len(hdr[i]), len(row[i])) + 2
	}
	var b strings.Builder
	line := func() {
		for _, w := range widths {
			b.WriteString("+" + strings.Repeat("-", w))
		}
		b.WriteString("+\n")
	}
	line()
	for i, h := range hdr {
		pad := widths[i] - len(h)
		b.WriteString("|" + strings.Repeat(" ", pad/2) + h + strings.Repeat(" ", pad-pad/2)) // odd: the extra space right, as etcdctl
	}
	b.WriteString("|\n")
	line()
	for i, v := range row {
		b.WriteString("|" + strings.Repeat(" ", widths[i]-len(v)-1) + v + " ")
	}
	b.WriteString("|\n")
	line()
	return b.String()
}

// humanBytes formats n in SI units as etcdctl does ("2.1 MB", "512 B").
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if val < 10 {
		return fmt.Sprintf("%.1f %s", val, units[int(e)])
	}
	return fmt.Sprintf("%.0f %s", val, units[int(e)])
}
