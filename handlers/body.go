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
	"sync"
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
	bp := bodyBufs.Get().(*[]byte)
	defer putBodyBuf(bp)
	body, err := readBody(r, limit, (*bp)[:0])
	*bp = body
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

// bodyBufs holds the buffers request bodies are read into: a body is
// decoded (its strings copied out) before its buffer is put back.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 64 << 10

func putBodyBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		bodyBufs.Put(bp)
	}
}

// readBody appends r's body to buf, reading at most limit+1 bytes (so that
// the caller can tell a body over the limit), as io.ReadAll would.
func readBody(r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1) // +1: room to see the end without growing
	}
	lr := io.LimitedReader{R: r.Body, N: limit + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
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
	if fp, ok := dst.(flatParams); ok && decodeFlat(data, fp) {
		return nil
	}
	if !plainMembers(data, fieldNamesOf(dst)) {
		var err error
		if data, err = withoutFolded(data, dst); err != nil {
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

// withoutFolded returns the JSON object data without the members
// foldedMembers names (data itself when there are none).
func withoutFolded(data []byte, dst any) ([]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	folded := foldedMembers(members, dst)
	if len(folded) == 0 {
		return data, nil
	}
	for _, k := range folded {
		delete(members, k)
	}
	return json.Marshal(members)
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

// fieldNameCache maps a params type to its fieldNames as byte strings.
var fieldNameCache sync.Map // reflect.Type → [][]byte

// fieldNamesOf is fieldNames of the type of dst, computed once per type.
func fieldNamesOf(dst any) [][]byte {
	t := reflect.TypeOf(dst)
	if v, ok := fieldNameCache.Load(t); ok {
		return v.([][]byte)
	}
	var names [][]byte
	for _, n := range fieldNames(t) {
		names = append(names, []byte(n))
	}
	fieldNameCache.Store(t, names)
	return names
}

// plainMembers reports whether data is a JSON object each of whose member
// names is written without escapes and either is one of names or does
// not match any of them case-insensitively: then encoding/json matches
// its members to fields exactly as SPEC §2 wants, and no member needs to
// be dropped. It looks at the top level only and does not check the
// syntax (json.Unmarshal does): false means it cannot tell.
func plainMembers(data []byte, names [][]byte) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		j := i + 1
		for j < len(data) && data[j] != '"' {
			if data[j] == '\\' {
				return false
			}
			j++
		}
		if j >= len(data) || !plainName(data[i+1:j], names) {
			return false
		}
		i = skipSpace(data, j+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		var ok bool
		if i, ok = skipValue(data, skipSpace(data, i+1)); !ok {
			return false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

// plainName reports whether the member name key is one of names or
// matches none of them case-insensitively (as encoding/json folds).
func plainName(key []byte, names [][]byte) bool {
	for _, n := range names {
		if bytes.Equal(key, n) {
			return true
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, n) {
			return false
		}
	}
	return true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at data[i].
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(data), false
}

// skipValue returns the index after the JSON value starting at data[i].
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return i, false
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				var ok bool
				if i, ok = skipString(data, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
		i++
	}
	return i, i > start
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
