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
	"strings"
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

func tooLarge(limit int64) error {
	return filelock.Errorf(filelock.ETooLarge, "request body exceeds %d bytes", limit)
}

// DecodeParams decodes a JSON object into the params struct dst (SPEC §2):
// members are matched to fields by their exact names, and unknown ones
// (a name that differs from a field's only in case included) are ignored;
// anything but a JSON object, malformed JSON, text that is not UTF-8, and
// a value of the wrong type are invalid_request, naming the offending
// field ("body" when the body as a whole is wrong). Missing fields are
// left zero, for the command's validation to name.
func DecodeParams(data []byte, dst any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return filelock.FieldError("body", "the request body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return filelock.FieldError(badUTF8Field(data), "the request body must be UTF-8")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return filelock.FieldError("body", "malformed JSON: %v", err)
	}
	if folded := foldedMembers(members, dst); len(folded) > 0 {
		for _, k := range folded {
			delete(members, k)
		}
		var err error
		if data, err = json.Marshal(members); err != nil {
			return filelock.FieldError("body", "malformed JSON: %v", err)
		}
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

// foldedMembers returns the names among members that encoding/json would
// take for a field of the struct dst points to although they differ from
// the field's name (it matches names case-insensitively): for SPEC §2 they
// are unknown fields, to be ignored.
func foldedMembers(members map[string]json.RawMessage, dst any) []string {
	names := fieldNames(reflect.TypeOf(dst))
	var folded []string
	for k := range members {
		if slices.Contains(names, k) {
			continue
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) }) {
			folded = append(folded, k)
		}
	}
	return folded
}

// fieldNames lists the JSON names of the fields of the struct t points to.
func fieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
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
