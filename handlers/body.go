package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"unicode/utf8"

	"filelock"
)

// decodeBody reads a request body of at most limit bytes
// (payload_too_large otherwise) and decodes it with DecodeParams. A body
// that cannot be read in full (cut off by http.read_timeout, the client
// gone) is invalid_request, field body.
func (s *Server) decodeBody(r *http.Request, dst any, limit int64) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return filelock.FieldError("body", "the request body did not arrive within http.read_timeout")
	}
	if err != nil {
		return filelock.FieldError("body", "could not read the request body")
	}
	if int64(len(body)) > limit {
		return tooLarge(limit)
	}
	return DecodeParams(body, dst)
}

// claimBodyBytes is the body limit of POST /claim: limits.max_body_bytes,
// or room for the longest valid list (MaxClaimFiles names of
// filelock.MaxFileLen bytes, quoted, beside the other fields) when that is
// more, so that every list SPEC §3 allows fits.
func (s *Server) claimBodyBytes() int64 {
	return max(s.cfg.MaxBodyBytes, MaxClaimFiles*(filelock.MaxFileLen+3)+4<<10)
}

func tooLarge(limit int64) error {
	return filelock.Errorf(filelock.ETooLarge, "request body exceeds %d bytes", limit)
}

// DecodeParams decodes a JSON object into the params struct dst (SPEC §2):
// unknown fields are ignored; anything but a JSON object, malformed JSON,
// text that is not UTF-8, and a value of the wrong type are invalid_request,
// naming the offending field ("body" when the body as a whole is wrong). Missing fields are left
// zero, for the command's validation to name.
func DecodeParams(data []byte, dst any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return filelock.FieldError("body", "the request body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return filelock.FieldError(badUTF8Field(data), "the request body must be UTF-8")
	}
	err := json.Unmarshal(data, dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return filelock.FieldError("body", "the request body must be a JSON object")
		}
		return filelock.FieldError(te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return filelock.FieldError("body", "malformed JSON: %v", err)
}

// badUTF8Field names the first member of the object whose raw value is not
// valid UTF-8 ("" when it cannot tell).
func badUTF8Field(data []byte) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	keys := slices.Sorted(maps.Keys(raw))
	for _, k := range keys {
		if !utf8.Valid(raw[k]) {
			return k
		}
	}
	return ""
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}
