package store

import (
	"filelock"
)

// The errors of the lock rules, built here so that every store answers with
// the same code, field, lock and message (SPEC §3).

// ErrFileLocked: another user holds the file (field file).
func ErrFileLocked(l filelock.Lock) *filelock.Error {
	e := filelock.LockError(filelock.EFileLocked, l, "%s is locked by %s", l.File, l.User)
	e.Field = "file"
	return e
}

// ErrUserHasLock: the user holds another file of the project (no field).
func ErrUserHasLock(l filelock.Lock) *filelock.Error {
	return filelock.LockError(filelock.EUserHasLock, l, "%s already holds %s", l.User, l.File)
}

// ErrNotLocked: nobody holds the file (field file).
func ErrNotLocked(file string) *filelock.Error {
	e := filelock.Errorf(filelock.ENotLocked, "%s is not locked", file)
	e.Field = "file"
	return e
}

// ErrNoLockHeld: the user holds no lock in the project (Heartbeat); a
// not_locked error, field file as every not_locked.
func ErrNoLockHeld(projectID, user string) *filelock.Error {
	e := filelock.Errorf(filelock.ENotLocked, "%s holds no lock in project %s", user, projectID)
	e.Field = "file"
	return e
}

// ErrNotOwner: another user holds the file (no field).
func ErrNotOwner(l filelock.Lock) *filelock.Error {
	return filelock.LockError(filelock.ENotOwner, l, "%s is locked by %s", l.File, l.User)
}

// ErrStaleToken: token is not the current token of the lock (field token).
func ErrStaleToken(token int64, l filelock.Lock) *filelock.Error {
	e := filelock.LockError(filelock.EStaleToken, l, "token %d is not the current token of %s", token, l.File)
	e.Field = "token"
	return e
}

// ErrNoneFree: every listed file is held by another user (no field, no lock).
func ErrNoneFree() *filelock.Error {
	return filelock.Errorf(filelock.ENoneFree, "every listed file is locked by another user")
}
