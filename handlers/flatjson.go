package handlers

import "strconv"

// A shortcut of DecodeParams for the bodies of the lock path: a flat JSON
// object of plain members (strings without escapes, numbers, true, false,
// null) is decoded by hand into the params types that implement
// flatParams. Member names are matched exactly (SPEC §2: one that differs
// from a field's only in case is unknown, ignored), values only where
// encoding/json decodes them the same way and without error; anything
// else (an escape, a nested value, a type encoding/json would refuse, any
// syntax error) leaves dst untouched and goes the encoding/json way, so
// results and errors stay DecodeParams' (body_test.go compares them).

// flatParams is a params struct decodeFlat can fill: set reports whether v
// suits the member name (true for a name that is no field, ignored) and,
// with write, stores it as encoding/json would. Names are compared
// exactly.
type flatParams interface {
	setFlat(name []byte, v flatValue, write bool) bool
}

type flatKind uint8

const (
	flatString flatKind = iota
	flatNumber
	flatTrue
	flatFalse
	flatNull
	flatObject // a flat object (flatObjectEnd), where one is taken
)

// flatValue is a scalar JSON value: the text of a string (between its
// quotes, no escapes) or of a number.
type flatValue struct {
	kind flatKind
	raw  []byte
}

func (v flatValue) setString(dst *string, write bool) bool {
	switch v.kind {
	case flatString:
		if write {
			*dst = string(v.raw)
		}
		return true
	case flatNull:
		return true
	}
	return false
}

func (v flatValue) setBool(dst *bool, write bool) bool {
	switch v.kind {
	case flatTrue, flatFalse:
		if write {
			*dst = v.kind == flatTrue
		}
		return true
	case flatNull:
		return true
	}
	return false
}

func (v flatValue) setFloat(dst **float64, write bool) bool {
	switch v.kind {
	case flatNumber:
		f, err := strconv.ParseFloat(string(v.raw), 64)
		if err != nil {
			return false
		}
		if write {
			*dst = &f
		}
		return true
	case flatNull:
		if write {
			*dst = nil
		}
		return true
	}
	return false
}

func (v flatValue) setInt(dst **int64, write bool) bool {
	switch v.kind {
	case flatNumber:
		n, err := strconv.ParseInt(string(v.raw), 10, 64)
		if err != nil {
			return false
		}
		if write {
			*dst = &n
		}
		return true
	case flatNull:
		if write {
			*dst = nil
		}
		return true
	}
	return false
}

func (p *LockParams) setFlat(name []byte, v flatValue, write bool) bool {
	switch string(name) {
	case "project_id":
		return v.setString(&p.ProjectID, write)
	case "file":
		return v.setString(&p.File, write)
	case "user_id":
		return v.setString(&p.UserID, write)
	case "ttl_seconds":
		return v.setFloat(&p.TTLSeconds, write)
	case "release_previous":
		return v.setBool(&p.ReleasePrevious, write)
	}
	return true
}

func (p *UnlockParams) setFlat(name []byte, v flatValue, write bool) bool {
	switch string(name) {
	case "project_id":
		return v.setString(&p.ProjectID, write)
	case "file":
		return v.setString(&p.File, write)
	case "user_id":
		return v.setString(&p.UserID, write)
	case "token":
		return v.setInt(&p.Token, write)
	case "force":
		return v.setBool(&p.Force, write)
	}
	return true
}

func (p *HeartbeatParams) setFlat(name []byte, v flatValue, write bool) bool {
	switch string(name) {
	case "project_id":
		return v.setString(&p.ProjectID, write)
	case "user_id":
		return v.setString(&p.UserID, write)
	}
	return true
}

// maxFlatMembers bounds the members decodeFlat takes on.
const maxFlatMembers = 16

// decodeFlat decodes data into dst when data is a flat object of plain
// members each of which suits dst, with nothing but white space after it;
// it reports false, dst untouched, otherwise.
func decodeFlat(data []byte, dst flatParams) bool {
	type member struct {
		name []byte
		v    flatValue
	}
	var members [maxFlatMembers]member
	n := 0
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		name, next, ok := plainString(data, i)
		if !ok || n == maxFlatMembers {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		var v flatValue
		if v, i, ok = flatScalar(data, skipSpace(data, i+1)); !ok || !dst.setFlat(name, v, false) {
			return false
		}
		members[n] = member{name, v}
		n++
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return false
		}
		i = skipSpace(data, i+1)
	}
	if skipSpace(data, i+1) != len(data) {
		return false
	}
	for _, m := range members[:n] {
		dst.setFlat(m.name, m.v, true)
	}
	return true
}

// plainString returns the text of the JSON string at data[i] when it has
// no escape and no control character, and the index after it.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, j, false
		}
	}
	return nil, len(data), false
}

// flatScalar reads the scalar JSON value at data[i]: a plain string, a
// number of JSON's grammar, true, false or null.
func flatScalar(data []byte, i int) (flatValue, int, bool) {
	if i >= len(data) {
		return flatValue{}, i, false
	}
	switch c := data[i]; {
	case c == '"':
		s, next, ok := plainString(data, i)
		return flatValue{flatString, s}, next, ok
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := numberEnd(data, i)
		return flatValue{flatNumber, data[i:end]}, end, ok
	}
	for _, lit := range [...]struct {
		text string
		kind flatKind
	}{{"true", flatTrue}, {"false", flatFalse}, {"null", flatNull}} {
		if len(data)-i >= len(lit.text) && string(data[i:i+len(lit.text)]) == lit.text {
			end := i + len(lit.text)
			if end < len(data) && isLiteralByte(data[end]) {
				return flatValue{}, end, false // "truex"
			}
			return flatValue{kind: lit.kind}, end, true
		}
	}
	return flatValue{}, i, false
}

func isLiteralByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// numberEnd returns the end of the JSON number at data[i]
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), false when there is
// none or it runs into another character of a number.
func numberEnd(data []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(i)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] >= '0' && data[i] <= '9' || data[i] == '.' || data[i] == 'e' || data[i] == 'E' || data[i] == '+' || data[i] == '-') {
		return i, false // "01", "1.2.3"
	}
	return i, true
}

// flatObjectEnd returns the index after the flat JSON object at data[i]:
// members of plain names and flatScalar values only. false when there is
// none there (or it holds anything else: a nested value, an escape).
func flatObjectEnd(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '{' {
		return i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true
	}
	for {
		_, next, ok := plainString(data, i)
		if !ok {
			return next, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return i, false
		}
		if _, i, ok = flatScalar(data, skipSpace(data, i+1)); !ok {
			return i, false
		}
		i = skipSpace(data, i)
		switch {
		case i >= len(data):
			return i, false
		case data[i] == '}':
			return i + 1, true
		case data[i] != ',':
			return i, false
		}
		i = skipSpace(data, i+1)
	}
}
