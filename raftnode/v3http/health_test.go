package v3http

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDecideHealth(t *testing.T) {
	nospace := []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}}
	corrupt := []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_CORRUPT}}
	for _, tc := range []struct {
		name     string
		f        healthFacts
		excluded map[string]bool
		want     Health
	}{
		{"healthy", healthFacts{leader: 1}, nil, Health{"true", ""}},
		{"no leader", healthFacts{}, nil, Health{"false", "RAFT NO LEADER"}},
		{"no leader, serializable", healthFacts{serializable: true}, nil, Health{"true", ""}},
		{"read fails", healthFacts{leader: 1, readErr: errors.New("etcdserver: request timed out")}, nil,
			Health{"false", "RANGE ERROR:etcdserver: request timed out"}},
		{"nospace alarm", healthFacts{leader: 1, alarms: nospace}, nil, Health{"false", "ALARM NOSPACE"}},
		{"nospace excluded", healthFacts{leader: 1, alarms: nospace}, map[string]bool{"NOSPACE": true}, Health{"true", ""}},
		{"corrupt before leader", healthFacts{alarms: corrupt}, nil, Health{"false", "ALARM CORRUPT"}},
		{"alarm query fails", healthFacts{leader: 1, alarmErr: errors.New("boom")}, nil, Health{"false", "ALARM ERROR:boom"}},
	} {
		if got := decideHealth(tc.f, tc.excluded); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestDecideChecks(t *testing.T) {
	ok, reason := decideChecks([]checkResult{{"a", nil}, {"b", errors.New("no")}, {"c", nil}})
	if ok || reason != "[+]a ok\n[-]b failed: no\n[+]c ok\n" {
		t.Fatalf("%v %q", ok, reason)
	}
	ok, reason = decideChecks(nil)
	if !ok || reason != "" {
		t.Fatalf("no checks: %v %q", ok, reason)
	}
	sel := selectChecks([]check{{name: "a"}, {name: "b"}, {name: "c"}}, map[string]bool{"b": true, "zz": true})
	if len(sel) != 2 || sel[0].name != "a" || sel[1].name != "c" {
		t.Fatalf("selectChecks: %+v", sel)
	}
}

func TestHTTPStatusFromCode(t *testing.T) {
	// grpc-gateway v2's table.
	for c, want := range map[codes.Code]int{
		codes.OK: 200, codes.Canceled: 499, codes.Unknown: 500, codes.InvalidArgument: 400,
		codes.DeadlineExceeded: 504, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.PermissionDenied: 403, codes.Unauthenticated: 401, codes.ResourceExhausted: 429,
		codes.FailedPrecondition: 400, codes.Aborted: 409, codes.OutOfRange: 400,
		codes.Unimplemented: 501, codes.Internal: 500, codes.Unavailable: 503, codes.DataLoss: 500,
	} {
		if got := httpStatus(c); got != want {
			t.Errorf("%v: %d, want %d", c, got, want)
		}
	}
}

func TestMarshalIsCompactWithProtoNames(t *testing.T) {
	b, err := marshal(&pb.PutResponse{Header: &pb.ResponseHeader{ClusterId: 1, MemberId: 2, Revision: 3, RaftTerm: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"}}`; string(b) != want {
		t.Fatalf("%s, want %s", b, want)
	}
	chunk := streamErrorChunk(status.Error(codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted"))
	if want := `{"error":{"code":11,"message":"etcdserver: mvcc: required revision has been compacted"}}` + "\n"; string(chunk) != want {
		t.Fatalf("%s, want %s", chunk, want)
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	for _, in := range []string{`{`, `[]`, `{"key":5}`, `{"limit":"x"}`, "\x00"} {
		err := unmarshal([]byte(in), &pb.RangeRequest{})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%q: %v, want InvalidArgument", in, err)
		}
	}
	if err := unmarshal([]byte("  "), &pb.RangeRequest{}); err != nil {
		t.Errorf("empty body: %v", err)
	}
	r := &pb.RangeRequest{}
	if err := unmarshal([]byte(`{"key":"Zm9v","unknownField":1}`), r); err != nil || string(r.Key) != "foo" {
		t.Errorf("unknown fields are discarded, as etcd: %v %q", err, r.Key)
	}
}
