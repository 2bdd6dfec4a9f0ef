// Package autocompact decides when a member compacts its history by
// itself, with etcd's --auto-compaction-mode and
// --auto-compaction-retention semantics. The decisions are pure: a
// Compactor is fed the time, the store's revision and whether this member
// leads, and answers which revision to compact, if any; the member's loop
// (raftnode) does the compaction and reports the outcome with Done.
//
// # Modes
//
// periodic, retention a duration ("1h", "30m") or a bare number of hours
// ("1" = 1h): keep at least that much time of history. The compactor
// records the revision every tenth of the period (at most every 6 minutes:
// the interval is capped at 1h/10) and keeps a window of period/interval+1
// records; once a period has passed since it started (later: since the
// last compaction, at most an hour), it compacts to the oldest record of
// the window, the revision of one period ago.
//
// revision, retention a number N: every 5 minutes, compact to the current
// revision minus N, keeping the last N revisions.
//
// Retention "0" (the default) turns auto-compaction off. Only the leader
// compacts (the compaction is replicated); followers keep recording, so a
// new leader compacts on time. A revision already compacted counts as a
// success; a failure is retried at the next interval.
//
// # Example (periodic, 1h: a Tick every 6 minutes, a window of 11 records)
//
//	t=0      New: window [r0]
//	t=6m     Tick: window [r0 r6]                 (not an hour yet: nothing)
//	...
//	t=60m    Tick: compact r0 (the revision at t=0); window [r0 .. r60]
//	t=66m    Tick: r0 is done; window [r6 .. r66] (11 records)
//	t=72m    Tick: last compaction 12m ago < 1h: nothing
//	t=120m   Tick: compact r54, the oldest record of the window [r54 .. r114]
package autocompact
