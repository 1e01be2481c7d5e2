package main

import "testing"

// TestReplyTo: the WebSocket lock client tells its reply from events as
// decoding every message would.
func TestReplyTo(t *testing.T) {
	for _, c := range []struct {
		msg, ref    string
		ok, isReply bool
	}{
		{`{"event":"reply","data":{"ok":true,"acquired":true},"ref":"7"}`, "7", true, true},
		{`{"event":"reply","data":{"ok":false,"error":{"code":"locked"}},"ref":"7"}`, "7", false, true},
		{`{"event":"reply","data":{"ok":true},"ref":"6"}`, "7", false, false},
		{`{"event":"lock_acquired","data":{"project_id":"p","event_id":"1"}}`, "7", false, false},
		{`{"event":"error","data":{"code":"invalid_request"}}`, "7", false, false},
		{`{"ref":"7","event":"reply","data":{"ok":true}}`, "7", true, true},
		{`{"event":"reply","x":1,"data":{"ok":true},"ref":"7"}`, "7", true, true},
		{`{"event":"r\u0065ply","data":{"ok":true},"ref":"7"}`, "7", true, true},
		{`{"event":"reply","data":{"ok":true},"ref":"7"} `, "7", true, true},
		{`not json`, "7", false, false},
	} {
		if ok, isReply := replyTo([]byte(c.msg), c.ref); ok != c.ok || isReply != c.isReply {
			t.Errorf("replyTo(%s, %s) = %v, %v; want %v, %v", c.msg, c.ref, ok, isReply, c.ok, c.isReply)
		}
	}
}
