package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"filelock"
)

// maxAnswer is how much of a receiver's answer is read (and dropped), so
// that its connection can be used again.
const maxAnswer = 64 << 10

// payload is the body of SPEC §5: the event's name, when it was read for
// delivery (RFC 3339 UTC, milliseconds) and its data of §4.
type payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      filelock.Event `json:"data"`
}

// MessageID is the webhook-id of an event: the same on every attempt.
func MessageID(ev filelock.Event) string { return ev.ProjectID + ":" + ev.ID() }

// Sign returns the webhook-signature header value of one attempt:
// "v1," + base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// deliver posts ev to url until a 2xx, backing off between attempts from
// MinBackoff up to MaxBackoff; false when ctx ended first (then no new
// attempt starts). An attempt starts only while held says the lease is
// held for Timeout more. The body is built once: every attempt carries the
// same id and body.
func (d *Deliverer) deliver(ctx context.Context, url string, ev filelock.Event, held *heldUntil) bool {
	if ctx.Err() != nil {
		return false
	}
	body, err := json.Marshal(payload{Type: ev.Type, Timestamp: filelock.FormatTime(time.Now()), Data: ev})
	if err != nil { // an Event always marshals
		panic(err)
	}
	id := MessageID(ev)
	retry := newBackoff(d.opts.MinBackoff, d.opts.MaxBackoff)
	for {
		if !held.wait(ctx, d.opts.Timeout) {
			return false
		}
		result := d.attempt(ctx, url, id, body)
		if d.opts.OnResult != nil {
			d.opts.OnResult(result)
		}
		if result == ResultDelivered {
			return true
		}
		d.opts.Logger.Warn("webhook delivery failed; retrying", "url", url, "webhook_id", id, "result", result, "retry_in", retry.next)
		if !retry.wait(ctx) {
			return false
		}
	}
}

// attempt is one POST, bounded by Timeout; it returns one of Results. An
// attempt under way when ctx ends is let finish (within Timeout), so that
// its answer is known and acknowledged.
func (d *Deliverer) attempt(ctx context.Context, url, id string, body []byte) string {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ResultUnreachable
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "filelock-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(d.key, id, ts, body))
	resp, err := d.opts.Client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return ResultRejected
		}
		return ResultDelivered
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return ResultTimeout
	}
	return ResultUnreachable
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// backoff is an exponential wait with jitter (each wait is 75–100 % of
// the current step).
type backoff struct {
	first, max, next time.Duration
}

func newBackoff(first, max time.Duration) *backoff {
	return &backoff{first: first, max: max, next: first}
}

func (b *backoff) reset() { b.next = b.first }

// wait sleeps for the next step and doubles it; false when ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	return sleep(ctx, b.step())
}

// step returns the next wait and doubles it.
func (b *backoff) step() time.Duration {
	d := b.next - time.Duration(rand.Int64N(int64(b.next)/4+1))
	b.next = min(2*b.next, b.max)
	return d
}
