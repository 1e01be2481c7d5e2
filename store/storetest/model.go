package storetest

import (
	"fmt"
	"maps"
	"slices"

	"filelock"
)

// model is a project's state rebuilt from a Status and the events after it.
type model struct {
	locks map[string]filelock.Lock // by file
	users map[string]bool
}

func newModel(st filelock.Status) *model {
	m := &model{locks: map[string]filelock.Lock{}, users: map[string]bool{}}
	for _, l := range st.Locks {
		m.locks[l.File] = l
	}
	for _, u := range st.Users {
		m.users[u] = true
	}
	return m
}

// apply applies one event, reporting an event that cannot follow the state
// (two holders of a file, a release of a lock not held, a user holding two
// files, a double join or leave).
func (m *model) apply(e filelock.Event) error {
	switch e.Type {
	case filelock.EventLockAcquired:
		if old, ok := m.locks[e.Lock.File]; ok {
			return fmt.Errorf("event %s: %q acquired by %q while held by %q", e.ID(), e.Lock.File, e.Lock.User, old.User)
		}
		for _, l := range m.locks {
			if l.User == e.Lock.User {
				return fmt.Errorf("event %s: %q acquires %q while holding %q", e.ID(), e.Lock.User, e.Lock.File, l.File)
			}
		}
		if uint64(e.Lock.Token) != e.Seq {
			return fmt.Errorf("event %s: token %d is not the event's Seq", e.ID(), e.Lock.Token)
		}
		m.locks[e.Lock.File] = e.Lock
	case filelock.EventLockReleased:
		old, ok := m.locks[e.Lock.File]
		if !ok {
			return fmt.Errorf("event %s: %q released but not held", e.ID(), e.Lock.File)
		}
		if old.User != e.Lock.User || old.Token != e.Lock.Token {
			return fmt.Errorf("event %s: released %q of %q token %d, held by %q token %d", e.ID(), e.Lock.File, e.Lock.User, e.Lock.Token, old.User, old.Token)
		}
		switch e.Reason {
		case filelock.ReasonUnlocked, filelock.ReasonExpired, filelock.ReasonDisconnected, filelock.ReasonForced, filelock.ReasonSwitched:
		default:
			return fmt.Errorf("event %s: reason %q", e.ID(), e.Reason)
		}
		delete(m.locks, e.Lock.File)
	case filelock.EventUserJoined:
		if m.users[e.User] {
			return fmt.Errorf("event %s: %q joined twice", e.ID(), e.User)
		}
		m.users[e.User] = true
	case filelock.EventUserLeft:
		if !m.users[e.User] {
			return fmt.Errorf("event %s: %q left but was not present", e.ID(), e.User)
		}
		delete(m.users, e.User)
	default:
		return fmt.Errorf("event %s: unexpected type %q in the log", e.ID(), e.Type)
	}
	return nil
}

// diff compares the model with a Status (files, holders, tokens, users).
func (m *model) diff(st filelock.Status) error {
	got := newModel(st)
	if !slices.Equal(slices.Sorted(maps.Keys(m.users)), slices.Sorted(maps.Keys(got.users))) {
		return fmt.Errorf("users %v, want %v", slices.Sorted(maps.Keys(got.users)), slices.Sorted(maps.Keys(m.users)))
	}
	if len(got.locks) != len(m.locks) {
		return fmt.Errorf("%d locks, want %d", len(got.locks), len(m.locks))
	}
	for f, l := range m.locks {
		g, ok := got.locks[f]
		if !ok || g.User != l.User || g.Token != l.Token {
			return fmt.Errorf("lock of %q = %+v, want %+v", f, g, l)
		}
	}
	return nil
}

// checkStatusOrder checks Status's sort order: locks by file byte order,
// users sorted, no duplicates.
func checkStatusOrder(st filelock.Status) error {
	for i := 1; i < len(st.Locks); i++ {
		if st.Locks[i-1].File >= st.Locks[i].File {
			return fmt.Errorf("locks not sorted by file: %q before %q", st.Locks[i-1].File, st.Locks[i].File)
		}
	}
	for i := 1; i < len(st.Users); i++ {
		if st.Users[i-1] >= st.Users[i] {
			return fmt.Errorf("users not sorted: %q before %q", st.Users[i-1], st.Users[i])
		}
	}
	for _, l := range st.Locks {
		if l.ProjectID != st.ProjectID {
			return fmt.Errorf("lock of project %q in status of %q", l.ProjectID, st.ProjectID)
		}
	}
	return nil
}
