package kvstore

import "go.etcd.io/etcd/api/v3/mvccpb"

// viewSource provides the unfiltered events of one batch (a revision's
// events in a group's range, or a history read), with or without PrevKv.
type viewSource interface {
	viewBase(strip bool) []*mvccpb.Event
}

// evViews caches, for one batch of events, the lists watchers see: with or
// without PrevKv, times the NoPut/NoDelete filters. Each is derived at most
// once per batch and shared by every watcher asking for it. Returned slices
// are clipped (len == cap) so that appending to them copies, and neither
// they nor their events are ever modified.
type evViews struct {
	views [8][]*mvccpb.Event
	built uint8
}

func (v *evViews) reset() { *v = evViews{} }

// get returns the view for filter (filterNoPut|filterNoDelete) and strip.
func (v *evViews) get(src viewSource, filter uint8, strip bool) []*mvccpb.Event {
	k := filter << 1
	if strip {
		k |= 1
	}
	if v.built&(1<<k) != 0 {
		return v.views[k]
	}
	var out []*mvccpb.Event
	if filter == 0 {
		out = src.viewBase(strip)
	} else {
		out = filterEvents(v.get(src, 0, strip), filter)
	}
	v.views[k], v.built = out, v.built|1<<k
	return out
}

// filterEvents returns evs without the event types filter excludes: evs
// itself if nothing is excluded, else a new clipped slice (nil if empty).
func filterEvents(evs []*mvccpb.Event, filter uint8) []*mvccpb.Event {
	keep := func(e *mvccpb.Event) bool {
		switch e.GetType() {
		case mvccpb.Event_PUT:
			return filter&filterNoPut == 0
		case mvccpb.Event_DELETE:
			return filter&filterNoDelete == 0
		}
		return true
	}
	n := 0
	for _, e := range evs {
		if keep(e) {
			n++
		}
	}
	switch n {
	case len(evs):
		return evs
	case 0:
		return nil
	}
	out := make([]*mvccpb.Event, 0, n)
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
