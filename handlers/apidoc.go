package handlers

// LockDoc is filelock.Lock as it travels on the wire, for the API docs
// (filelock.Lock renders itself with MarshalJSON; .swaggo points swag here).
type LockDoc struct {
	ProjectID  string `json:"project_id" example:"1234"`
	File       string `json:"file" example:"images/이미지1.jpg"`
	User       string `json:"user" example:"user1"`
	Token      int64  `json:"token" example:"42"` // fencing token: strictly increasing per project
	AcquiredAt string `json:"acquired_at" example:"2026-11-27T08:00:00.000Z"`
	ExpiresAt  string `json:"expires_at" example:"2026-11-27T08:01:30.000Z"`
} //	@name	Lock
