package kinds

// Events (core/v1): validation of the involved object's namespace, the
// table kubectl shows (LAST SEEN first, as kube-apiserver's printer), and
// the selectable fields.

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func eventKind() *Kind {
	k := base(coreGV, "Event", "events", "event", true, obj[corev1.Event](), obj[corev1.EventList]())
	k.ShortNames = []string{"ev"}
	k.Validate = func(o runtime.Object) field.ErrorList {
		e := o.(*corev1.Event)
		p := field.NewPath("involvedObject", "namespace")
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != "" && e.Namespace != metav1.NamespaceDefault {
				return field.ErrorList{field.Invalid(p, e.InvolvedObject.Namespace, "does not match event.namespace")}
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			return field.ErrorList{field.Invalid(p, e.InvolvedObject.Namespace, "does not match event.namespace")}
		}
		return nil
	}
	k.Columns = []metav1.TableColumnDefinition{
		col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded.", false),
		col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future.", false),
		col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", false),
		col("Object", "string", "The object that this event is about.", false),
		col("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.", true),
		col("Source", "string", "The component reporting this event.", true),
		col("Message", "string", "A human-readable description of the status of this operation.", false),
		col("First Seen", "string", "The time at which the event was first recorded.", true),
		col("Count", "string", "The number of times this event has occurred.", true),
		{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: colName.Description},
	}
	k.Cells = func(o runtime.Object) []interface{} { return eventCells(o.(*corev1.Event)) }
	k.Fields = func(o runtime.Object) fields.Set {
		e := o.(*corev1.Event)
		io := e.InvolvedObject
		return fields.Set{
			"involvedObject.kind":            io.Kind,
			"involvedObject.namespace":       io.Namespace,
			"involvedObject.name":            io.Name,
			"involvedObject.uid":             string(io.UID),
			"involvedObject.apiVersion":      io.APIVersion,
			"involvedObject.resourceVersion": io.ResourceVersion,
			"involvedObject.fieldPath":       io.FieldPath,
			"reason":                         e.Reason,
			"reportingComponent":             e.ReportingController,
			"source":                         e.Source.Component,
			"type":                           e.Type,
		}
	}
	return k
}

func eventCells(e *corev1.Event) []interface{} {
	first := age(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime)
	}
	last := age(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last, count = microAge(e.Series.LastObservedTime), e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []interface{}{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, eventSource(e),
		strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

// eventSource renders "component, host" (or the reporting controller and
// instance of a newer event).
func eventSource(e *corev1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component, host = e.ReportingController, e.ReportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
