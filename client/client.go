// Package client is a Go client of the filelock server for labeling
// backends: typed calls for every REST endpoint (SPEC §3), the fencing check
// a backend makes before it saves, and an event stream (SSE) that reconnects
// and resumes by event id.
//
// Every call that the server refuses returns a *filelock.Error carrying the
// code, message, field and lock of the server's error body (SPEC §3). A
// call that never got an answer (the server could not be reached, the
// context ended) returns the transport's error, wrapped: it is not a
// *filelock.Error, so a caller can tell "refused" from "unknown outcome".
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"filelock"
)

// maxReplyBytes bounds the body of a reply the client reads.
const maxReplyBytes = 8 << 20

// Client calls one filelock server (or a load balancer in front of several).
// It is safe for concurrent use.
type Client struct {
	base   *url.URL
	http   *http.Client
	bearer string
	apiKey string
	// retryMin is the first reconnect delay of an event stream; the
	// server's "retry:" replaces it unless retrySet.
	retryMin time.Duration
	retrySet bool
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (default: a
// client of its own without a timeout; bound each call with its context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithToken sends jwt as "Authorization: Bearer" on every request
// (auth.mode jwt).
func WithToken(jwt string) Option { return func(c *Client) { c.bearer = jwt } }

// WithAPIKey sends key as X-API-Key on every request: the backend acts as an
// admin of every project, in either auth mode (SPEC §6).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithReconnectDelay sets the delay before an event stream's first
// reconnection attempt, in place of the server's "retry:" (2 s); while the
// server cannot be had, later attempts back off up to 15 s.
func WithReconnectDelay(d time.Duration) Option {
	return func(c *Client) { c.retryMin, c.retrySet = max(d, time.Millisecond), true }
}

// New returns a client of the server at baseURL (e.g.
// "http://127.0.0.1:8000"; a path prefix is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("filelock client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("filelock client: base URL %q is not an http(s) URL", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	c := &Client{base: u, http: &http.Client{}, retryMin: 2 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// endpoint returns the URL of path (already escaped) with query q.
func (c *Client) endpoint(escapedPath string, q url.Values) string {
	s := c.base.String() + escapedPath
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

func (c *Client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("filelock client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	return req, nil
}

// call sends one request and decodes a 200 answer into out (when non-nil);
// any other answer becomes a *filelock.Error.
func (c *Client) call(ctx context.Context, method, escapedPath string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("filelock client: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, c.endpoint(escapedPath, q), body)
	if err != nil {
		return err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("filelock client: %s %s: %w", method, escapedPath, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxReplyBytes))
	if err != nil {
		return fmt.Errorf("filelock client: %s %s: reading reply: %w", method, escapedPath, err)
	}
	if res.StatusCode != http.StatusOK {
		return decodeError(res.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("filelock client: %s %s: decoding reply: %w", method, escapedPath, err)
	}
	return nil
}

// errorBody is the wire form of an error (SPEC §3).
type errorBody struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	Lock *filelock.Lock `json:"lock"`
}

// decodeError turns a non-200 answer into a *filelock.Error. A body that is
// not the SPEC's error shape (a proxy's page, say) gets the code of its
// status (502, 503 and 504 count as store_unavailable: the service is not
// answering) and the status line as its message.
func decodeError(status int, body []byte) *filelock.Error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error != nil && eb.Error.Code != "" {
		return &filelock.Error{Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field, Lock: eb.Lock}
	}
	code := filelock.EInternal
	switch status {
	case http.StatusBadRequest:
		code = filelock.EInvalid
	case http.StatusUnauthorized:
		code = filelock.EUnauthorized
	case http.StatusForbidden:
		code = filelock.EForbidden
	case http.StatusNotFound:
		code = filelock.ENotFound
	case http.StatusRequestEntityTooLarge:
		code = filelock.ETooLarge
	case http.StatusTooManyRequests:
		code = filelock.ERateLimited
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		code = filelock.EUnavailable
	}
	return &filelock.Error{Code: code, Message: "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)}
}

// IsCode reports whether err is (or wraps) a *filelock.Error of code.
func IsCode(err error, code string) bool {
	var fe *filelock.Error
	return errors.As(err, &fe) && fe.Code == code
}

// escapeFile percent-encodes each slash-separated segment of a file name
// for a URL path; the slashes stay. Dot segments are encoded too, so that
// no client or proxy resolves them away.
func escapeFile(file string) string {
	segs := strings.Split(file, "/")
	for i, s := range segs {
		switch s {
		case ".":
			segs[i] = "%2E"
		case "..":
			segs[i] = "%2E%2E"
		default:
			segs[i] = url.PathEscape(s)
		}
	}
	return strings.Join(segs, "/")
}

// seconds converts a duration to the wire's ttl_seconds (nil for 0: the
// server's default).
func seconds(d time.Duration) *float64 {
	if d == 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

// interval converts heartbeat_interval_seconds to a duration.
func interval(secs float64) time.Duration { return time.Duration(secs * float64(time.Second)) }
