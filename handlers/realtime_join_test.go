package handlers_test

import (
	"testing"

	"filelock/handlers"
)

// rtConn is a WebSocket or Socket.IO test client, as the join and claim
// tests use either.
type rtConn struct {
	name string
	call func(event string, data any) map[string]any
	log  *eventLog
}

// dialers open a fresh client of each message transport.
func dialers(t *testing.T, base string) []func() rtConn {
	return []func() rtConn{
		func() rtConn { c := dialWS(t, base).start(); return rtConn{"ws", c.call, c.log} },
		func() rtConn { c := dialSIO(t, base); return rtConn{"sio", c.call, c.log} },
	}
}

func errCode(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestJoinResume: join_project with a last_event_id still in the history
// replies {ok, project_id, resumed} and replays what came after it, with
// no snapshot; an id out of the history (or not an id) gets the snapshot
// reply and event.
func TestJoinResume(t *testing.T) {
	o := rtOptions()
	o.History = 5
	a := memoryInstances(t, o, nil)[0]
	for _, dial := range dialers(t, a.url) {
		project := newProject()
		a.lock(project, "first.jpg", "u0")
		from := a.status(project).LastEventID
		a.lock(project, "a.jpg", "u1")
		a.lock(project, "b.jpg", "u2")
		last := a.status(project).LastEventID

		c := dial()
		r := c.call("join_project", map[string]any{"project_id": project, "user_id": "w", "last_event_id": from})
		if r["ok"] != true || r["project_id"] != project || r["resumed"] != true || r["locks"] != nil {
			t.Fatalf("%s: resumed join reply %v", c.name, r)
		}
		c.log.waitEventID(t, last)
		got := c.log.all()
		if len(got) < 2 || got[0].Name != "lock_acquired" || got[0].str("file") != "a.jpg" ||
			got[1].Name != "lock_acquired" || got[1].str("file") != "b.jpg" {
			t.Fatalf("%s: replay %v", c.name, names(got))
		}
		for _, e := range got {
			if e.Name == "snapshot" {
				t.Fatalf("%s: snapshot on a resumed join: %v", c.name, names(got))
			}
		}
		// Live events follow the replay.
		a.lock(project, "c.jpg", "u3")
		c.log.waitFor(t, "live event", func(e wireEvent) bool { return e.Name == "lock_acquired" && e.str("file") == "c.jpg" })

		// Out of the window: o.History events later, from is gone.
		for _, f := range []string{"d", "e", "f", "g", "h", "i"} {
			a.lock(project, f, "v-"+f)
		}
		for _, id := range []string{from, "not-an-id"} {
			c := dial()
			r := c.call("join_project", map[string]any{"project_id": project, "user_id": "w", "last_event_id": id})
			if r["ok"] != true || r["resumed"] != nil || r["locks"] == nil || r["event_id"] == nil {
				t.Fatalf("%s: join from %q: reply %v", c.name, id, r)
			}
			snap := c.log.waitFor(t, "snapshot", func(wireEvent) bool { return true })
			if snap.Name != "snapshot" || snap.eventID() != r["event_id"] {
				t.Fatalf("%s: join from %q: first event %v, reply %v", c.name, id, snap, r)
			}
		}
	}
}

// TestJoinLimits: one connection joins at most
// limits.max_projects_per_connection projects (one more is rate_limited;
// joining a joined one again is not one more), always as one user.
func TestJoinLimits(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) { c.MaxProjectsPerConn = 2 })[0]
	for _, dial := range dialers(t, a.url) {
		c := dial()
		p1, p2, p3 := newProject(), newProject(), newProject()
		for _, p := range []string{p1, p2, p1} {
			if r := c.call("join_project", map[string]any{"project_id": p, "user_id": "u1"}); r["ok"] != true {
				t.Fatalf("%s: join %s: %v", c.name, p, r)
			}
		}
		if r := c.call("join_project", map[string]any{"project_id": p3, "user_id": "u1"}); r["ok"] != false || errCode(r) != "rate_limited" {
			t.Fatalf("%s: third project: %v", c.name, r)
		}
		if r := c.call("join_project", map[string]any{"project_id": p2, "user_id": "u2"}); errCode(r) != "user_mismatch" {
			t.Fatalf("%s: another user: %v", c.name, r)
		}
		if r := c.call("leave_project", map[string]any{"project_id": p1}); r["ok"] != true {
			t.Fatalf("%s: leave: %v", c.name, r)
		}
		if r := c.call("join_project", map[string]any{"project_id": p3, "user_id": "u1"}); r["ok"] != true {
			t.Fatalf("%s: join after a leave: %v", c.name, r)
		}
		// The refused join changed nothing: the connection is still u1's in p2.
		if st := a.status(p3); len(st.Users) != 1 || st.Users[0] != "u1" {
			t.Fatalf("%s: users of p3 %v", c.name, st.Users)
		}
	}
}

// TestClaimMessage: claim over WebSocket and Socket.IO answers as REST
// /claim: the first free file, the user's own listed file renewed, the
// previous lock given up (switched), none_free when every file is taken.
func TestClaimMessage(t *testing.T) {
	a := memoryInstances(t, rtOptions(), nil)[0]
	for _, dial := range dialers(t, a.url) {
		project := newProject()
		a.lock(project, "1.jpg", "other")
		c := dial()
		if r := c.call("join_project", map[string]any{"project_id": project, "user_id": "me"}); r["ok"] != true {
			t.Fatalf("%s: join: %v", c.name, r)
		}
		r := c.call("claim", map[string]any{"project_id": project, "files": []string{"1.jpg", "2.jpg", "3.jpg"}, "ttl_seconds": 30})
		lk, _ := r["lock"].(map[string]any)
		if r["ok"] != true || r["acquired"] != true || r["renewed"] != false || lk["file"] != "2.jpg" || lk["user"] != "me" ||
			r["heartbeat_interval_seconds"] != float64(10) {
			t.Fatalf("%s: claim: %v", c.name, r)
		}
		r = c.call("claim", map[string]any{"project_id": project, "files": []string{"2.jpg", "3.jpg"}})
		if lk, _ := r["lock"].(map[string]any); r["ok"] != true || r["renewed"] != true || lk["file"] != "2.jpg" {
			t.Fatalf("%s: claim own: %v", c.name, r)
		}
		a.lock(project, "4.jpg", "other2")
		r = c.call("claim", map[string]any{"project_id": project, "files": []string{"4.jpg", "5.jpg"}})
		rel, _ := r["released"].(map[string]any)
		if lk, _ := r["lock"].(map[string]any); r["ok"] != true || lk["file"] != "5.jpg" || rel["file"] != "2.jpg" {
			t.Fatalf("%s: claim switch: %v", c.name, r)
		}
		c.log.waitFor(t, "switched", func(e wireEvent) bool {
			return e.Name == "lock_released" && e.str("file") == "2.jpg" && e.str("reason") == "switched"
		})
		r = c.call("claim", map[string]any{"project_id": project, "files": []string{"1.jpg", "4.jpg"}})
		if r["ok"] != false || errCode(r) != "none_free" || r["lock"] != nil {
			t.Fatalf("%s: none free: %v", c.name, r)
		}
		r = c.call("claim", map[string]any{"project_id": project, "files": []string{}})
		if e, _ := r["error"].(map[string]any); errCode(r) != "invalid_request" || e["field"] != "files" {
			t.Fatalf("%s: no files: %v", c.name, r)
		}
		if st := a.status(project); len(st.Locks) != 3 {
			t.Fatalf("%s: locks %v", c.name, st.Locks)
		}
	}
}
