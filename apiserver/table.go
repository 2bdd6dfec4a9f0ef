package apiserver

import (
	"bytes"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// defaultColumns are the columns of a kind that declares none.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
	{Name: "Age", Type: "string", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
}

// toTable renders objects as a meta.k8s.io/v1 Table. includeObject is the
// request's includeObject option: "None", "Object" or "Metadata" (default).
func (s *Server) toTable(r *resource, objs []runtime.Object, includeObject string, withColumns bool) (*metav1.Table, error) {
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}}
	columns, cells := r.kind.Columns, r.kind.Cells
	if cells == nil {
		columns, cells = defaultColumns, func(obj runtime.Object) []interface{} {
			m := metaOf(obj)
			return []interface{}{m.GetName(), age(m.GetCreationTimestamp())}
		}
	}
	if withColumns {
		t.ColumnDefinitions = columns
	}
	t.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, obj := range objs {
		row := metav1.TableRow{Cells: cells(obj)}
		switch includeObject {
		case "None":
		case "Object":
			raw, err := s.encodeJSON(obj)
			if err != nil {
				return nil, err
			}
			row.Object.Raw = raw
		default:
			raw, err := s.encodeJSON(partialMetadata(obj))
			if err != nil {
				return nil, err
			}
			row.Object.Raw = raw
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// partialMetadata is obj's metadata alone, as PartialObjectMetadata.
func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	m := metaOf(obj)
	pom := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	om := objectMetaOf(obj)
	if om != nil {
		pom.ObjectMeta = *om
	} else if u, ok := obj.(*unstructured.Unstructured); ok {
		if md, ok := u.Object["metadata"].(map[string]interface{}); ok {
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(md, &pom.ObjectMeta)
		}
	} else {
		pom.Name, pom.Namespace = m.GetName(), m.GetNamespace()
	}
	return pom
}

// objectMetaOf returns the ObjectMeta embedded in obj (shared; read-only).
func objectMetaOf(obj runtime.Object) *metav1.ObjectMeta {
	if om, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := om.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m
		}
	}
	return nil
}

func (s *Server) encodeJSON(obj runtime.Object) ([]byte, error) {
	info, _ := s.serializer(mediaJSON)
	var buf bytes.Buffer
	if err := info.Serializer.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// age renders the time since t as kubectl does ("5m", "3d4h"); "<unknown>"
// for a zero time.
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}
