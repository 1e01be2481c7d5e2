package client_test

import (
	"encoding/json"
	"net/http"
	"sync"

	"filelock"
	"filelock/client"
)

// annotations is the backend's store of saved work in this example.
type annotations struct {
	mu    sync.Mutex
	saved map[string]savedAnnotation // by project/file
}

type savedAnnotation struct {
	Token int64
	Data  json.RawMessage
}

func (a *annotations) Save(project, file string, token int64, data json.RawMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.saved[project+"/"+file] = savedAnnotation{token, data}
}

// README:begin
// saveAnnotation is a labeling backend's save endpoint. The page sends its
// work with the token of the lock it holds; the backend asks filelock
// whether that lock is still the file's current one (by that user) and
// saves only then. A page whose lock expired, was forced, or was taken
// over by someone else gets 409 and must reload the file.
func saveAnnotation(fl *client.Client, db *annotations) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ProjectID  string          `json:"project_id"`
			File       string          `json:"file"`
			UserID     string          `json:"user_id"`
			Token      int64           `json:"token"`
			Annotation json.RawMessage `json:"annotation"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Token == 0 {
			http.Error(w, "want project_id, file, user_id, token and annotation", http.StatusBadRequest)
			return
		}
		_, err := fl.Check(r.Context(), req.ProjectID, req.File, req.Token, req.UserID)
		switch {
		case err == nil: // the lock is current: save
		case client.IsCode(err, filelock.EStaleToken), client.IsCode(err, filelock.ENotOwner),
			client.IsCode(err, filelock.ENotLocked):
			http.Error(w, "your lock on this file is gone: reload the file", http.StatusConflict)
			return
		default: // filelock unreachable or unavailable: refuse rather than risk a stale save
			http.Error(w, "cannot verify the lock now, try again", http.StatusServiceUnavailable)
			return
		}
		db.Save(req.ProjectID, req.File, req.Token, req.Annotation)
		w.WriteHeader(http.StatusNoContent)
	}
}

// README:end
