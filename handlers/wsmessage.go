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

// wsFrame is a server message as encoding/json writes it.
type wsFrame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ref   json.RawMessage `json:"ref,omitempty"`
}

// appendWSAnswer appends the answer to a message: with ref, the reply
// {"event":"reply","data":data,"ref":ref}; without, the error event
// {"event":"error","data":data}. data is JSON as encoding/json writes it
// (compact, HTML characters escaped: a reply or an error body), ref a
// JSON value as the client sent it. The bytes are encoding/json's for a
// wsFrame (wsmessage_test.go compares them), and so is the error for a
// ref that is not JSON.
func appendWSAnswer(b []byte, ref, data json.RawMessage) ([]byte, error) {
	if ref == nil {
		b = append(b, `{"event":"error","data":`...)
	} else {
		b = append(b, `{"event":"reply","data":`...)
	}
	if data == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, data...)
	}
	if ref != nil {
		b = append(b, `,"ref":`...)
		var err error
		if b, err = appendCompactJSON(b, ref); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendCompactJSON appends the JSON value v as encoding/json writes a
// json.RawMessage: without white space between tokens, with <, >, &,
// U+2028 and U+2029 escaped. A value that needs neither is appended as it
// is (parseWSMessage hands out only JSON).
func appendCompactJSON(b []byte, v json.RawMessage) ([]byte, error) {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2: // 0xe2: U+2028 and U+2029 start with it
			out, err := json.Marshal(v)
			return append(b, out...), err
		}
	}
	return append(b, v...), nil
}
