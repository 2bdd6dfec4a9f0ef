package kinds

// Events (events.k8s.io/v1): the newer API of the same objects as core/v1
// Events. kube-apiserver keeps both in /registry/events as core/v1 Events;
// so does Kelson, converting on every read and write, so an Event written
// through either API reads back through the other (kubectl describe reads
// core/v1; kube-scheduler and newer controllers write events.k8s.io/v1).

import (
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var eventsGV = schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}

// noteMaxBytes bounds an events.k8s.io Event's note, as Kubernetes does.
const noteMaxBytes = 1024

func eventsV1Kind() *Kind {
	core := eventKind()
	k := base(eventsGV, "Event", "events", "event", true, obj[eventsv1.Event](), obj[eventsv1.EventList]())
	k.ShortNames = []string{"ev"}
	k.StoragePrefix = core.StoragePrefix
	k.Stored = &StoredAs{
		GVK:        coreGV.WithKind("Event"),
		New:        core.New,
		ToStored:   func(o runtime.Object) runtime.Object { return EventToCore(o.(*eventsv1.Event)) },
		FromStored: func(o runtime.Object) runtime.Object { return EventFromCore(o.(*corev1.Event)) },
	}
	k.Validate = func(o runtime.Object) field.ErrorList {
		e := o.(*eventsv1.Event)
		errs := core.Validate(EventToCore(e))
		if e.EventTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
		}
		for _, f := range []struct {
			path, value string
			max         int
		}{
			{"reportingController", e.ReportingController, 253},
			{"reportingInstance", e.ReportingInstance, 128},
			{"action", e.Action, 128},
			{"reason", e.Reason, 128},
		} {
			switch p := field.NewPath(f.path); {
			case f.value == "":
				errs = append(errs, field.Required(p, ""))
			case len(f.value) > f.max:
				errs = append(errs, field.TooLong(p, "", f.max))
			}
		}
		if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
			errs = append(errs, field.NotSupported(field.NewPath("type"), e.Type, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
		}
		if len(e.Note) > noteMaxBytes || !utf8.ValidString(e.Note) {
			errs = append(errs, field.TooLong(field.NewPath("note"), "", noteMaxBytes))
		}
		return errs
	}
	k.Columns = core.Columns
	k.Cells = func(o runtime.Object) []interface{} { return core.Cells(EventToCore(o.(*eventsv1.Event))) }
	k.Fields = func(o runtime.Object) fields.Set { return core.Fields(EventToCore(o.(*eventsv1.Event))) }
	return k
}

// EventToCore converts an events.k8s.io/v1 Event into a new core/v1 Event
// (sharing nothing mutable with e).
func EventToCore(e *eventsv1.Event) *corev1.Event {
	e = e.DeepCopy()
	c := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Related:             e.Related,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		c.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	c.SetGroupVersionKind(coreGV.WithKind("Event"))
	return c
}

// EventFromCore converts a core/v1 Event into a new events.k8s.io/v1 one.
func EventFromCore(c *corev1.Event) *eventsv1.Event {
	c = c.DeepCopy()
	e := &eventsv1.Event{
		ObjectMeta:               c.ObjectMeta,
		EventTime:                c.EventTime,
		ReportingController:      c.ReportingController,
		ReportingInstance:        c.ReportingInstance,
		Action:                   c.Action,
		Reason:                   c.Reason,
		Regarding:                c.InvolvedObject,
		Related:                  c.Related,
		Note:                     c.Message,
		Type:                     c.Type,
		DeprecatedSource:         c.Source,
		DeprecatedFirstTimestamp: c.FirstTimestamp,
		DeprecatedLastTimestamp:  c.LastTimestamp,
		DeprecatedCount:          c.Count,
	}
	if c.Series != nil {
		e.Series = &eventsv1.EventSeries{Count: c.Series.Count, LastObservedTime: c.Series.LastObservedTime}
	}
	e.SetGroupVersionKind(eventsGV.WithKind("Event"))
	return e
}
