package handlers

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"filelock"
)

// The envelope of a WebSocket message (SPEC §5): {"event","data","ref"?}.

// parseWSMessage splits a client frame {"event","data","ref"?} into its
// ref (nil when absent or null), the event name and the data ("{}" when
// absent or null). Errors are invalid_request; ref is set when the frame
// had one, for the error to be its reply. Member names are matched
// exactly, a repeated member counts by its last value, and other members
// are ignored. ref and data alias the frame.
//
// A flat envelope (plain names, a plain event name, a scalar ref, a flat
// or scalar data) is split by hand; any other goes through encoding/json
// (parseWSMessageJSON), which gives every frame the same result
// (wsmessage_test.go compares the two).
func parseWSMessage(data []byte) (ref json.RawMessage, name string, body []byte, err error) {
	if ref, name, body, ok := parseWSFlat(data); ok {
		return ref, name, body, nil
	}
	return parseWSMessageJSON(data)
}

// parseWSFlat is parseWSMessage's shortcut: ok false (nothing decided) for
// a frame it does not take, an invalid one included.
func parseWSFlat(data []byte) (ref json.RawMessage, name string, body []byte, ok bool) {
	var event []byte
	hasEvent := false
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, "", nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, "", nil, false // no event: an error, encoding/json's way
	}
	for {
		key, next, ok := plainString(data, i)
		if !ok {
			return nil, "", nil, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return nil, "", nil, false
		}
		start := skipSpace(data, i+1)
		var v flatValue
		if start < len(data) && data[start] == '{' {
			v.kind = flatObject
			i, ok = flatObjectEnd(data, start)
		} else {
			v, i, ok = flatScalar(data, start)
		}
		if !ok {
			return nil, "", nil, false
		}
		raw := data[start:i]
		switch string(key) {
		case "event":
			if v.kind != flatString {
				return nil, "", nil, false
			}
			event, hasEvent = v.raw, true
		case "ref":
			ref = raw
			if v.kind == flatNull {
				ref = nil
			}
		case "data":
			body = raw
			if v.kind == flatNull {
				body = nil
			}
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, "", nil, false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return nil, "", nil, false
		}
		i = skipSpace(data, i+1)
	}
	if skipSpace(data, i+1) != len(data) || !hasEvent || len(event) == 0 || !utf8.Valid(event) {
		return nil, "", nil, false
	}
	if body == nil {
		body = []byte("{}")
	}
	return ref, string(event), body, true
}

// parseWSMessageJSON is parseWSMessage by encoding/json.
func parseWSMessageJSON(data []byte) (ref json.RawMessage, name string, body []byte, err error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, "", nil, filelock.Errorf(filelock.EInvalid, "a message must be a JSON object {\"event\",\"data\",\"ref\"?}")
	}
	ref = raw["ref"]
	if bytes.Equal(ref, []byte("null")) {
		ref = nil
	}
	if err := json.Unmarshal(raw["event"], &name); err != nil || name == "" {
		return ref, "", nil, filelock.FieldError("event", "event must be a string naming the message")
	}
	body = raw["data"]
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		body = []byte("{}")
	}
	return ref, name, body, nil
}
