package handlers

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"filelock"
)

// decodeAlwaysFolded is DecodeParams without the plainMembers shortcut:
// every body goes through withoutFolded, as DecodeParams did before it.
func decodeAlwaysFolded(data []byte, dst any) error {
	trimmed := strings.TrimLeft(string(data), " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return filelock.FieldError("body", "the request body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return filelock.FieldError(badUTF8Field(data), "the request body must be UTF-8")
	}
	data, err := withoutFolded(data, dst)
	if err != nil {
		return filelock.FieldError("body", "malformed JSON: %v", err)
	}
	err = json.Unmarshal(data, dst)
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

// sameDecoding checks that DecodeParams and decodeAlwaysFolded give body
// the same params and the same error, for each params type.
func sameDecoding(t *testing.T, body []byte) {
	t.Helper()
	for _, newP := range []func() any{
		func() any { return new(LockParams) }, func() any { return new(UnlockParams) },
		func() any { return new(ClaimParams) }, func() any { return new(HeartbeatParams) },
	} {
		fast, slow := newP(), newP()
		errFast, errSlow := DecodeParams(body, fast), decodeAlwaysFolded(body, slow)
		if (errFast == nil) != (errSlow == nil) || (errFast != nil && errFast.Error() != errSlow.Error()) {
			t.Fatalf("%T of %q: error %v, want %v", fast, body, errFast, errSlow)
		}
		var fe, se *filelock.Error
		if errors.As(errFast, &fe) && errors.As(errSlow, &se) && (fe.Field != se.Field || fe.Code != se.Code) {
			t.Fatalf("%T of %q: error %+v, want %+v", fast, body, fe, se)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%T of %q: decoded %+v, want %+v", fast, body, fast, slow)
		}
	}
}

var decodeSeeds = []string{
	`{"project_id":"p","file":"a.jpg","user_id":"u"}`,
	` {"project_id" : "p" , "file":"a.jpg", "user_id":"u", "ttl_seconds": 1.5e1, "release_previous": true } `,
	`{}`, `{ }`, `[]`, `{"file":5}`, `{"file":"a"} x`, `{"file":"a",}`, `{"file":"a"`, `{"file"}`,
	`{"File":"b","file":"a"}`, `{"file":"a","FILE":"b"}`, `{"fil\u0065":"b"}`, `{"\u0046ile":"b"}`,
	`{"ſile":"b"}`, `{"project_id":"p","USER_ID":7}`, `{"files":["a","b"],"Files":7}`,
	`{"x":{"file":"nested","a":[1,{"b":"}"}]},"file":"top"}`, `{"x":"\"file\":","file":"q"}`,
	`{"token":12,"force":true}`, `{"token":"12"}`, `{"token":1.5}`, `{"ttl_seconds":null}`,
	`{"x":tru,"file":"a"}`, `{"x":-,"file":"a"}`, `{"a":1}{"b":2}`, `{"file":"a\u2028"}`,
	"{\"file\":\"\xff\"}", `{"project_id":"p","project_id":"q"}`, `{"PROJECT_ID":"q","project_id":"p"}`,
	`{"files":null}`, `{"files":[1]}`, `{"x":[[[[]]]],"file":"a"}`, `{"x":]}`, `{"file":"a"]`,
	`{"ttl_seconds":5,"ttl_seconds":null}`, `{"token":5,"token":6}`, `{"token":-0}`, `{"token":1e2}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"file":"17th"}`,
	"{\"file\":\"a\"}\n\t ", `{"file":"a"}}`, `{,}`, `{"file":"a",,"user_id":"u"}`, `{"file" "a"}`,
}

func TestDecodeParamsShortcut(t *testing.T) {
	for _, s := range decodeSeeds {
		sameDecoding(t, []byte(s))
	}
	// Random bodies: members from a small alphabet of names (exact,
	// folded, escaped, unknown) and values (right and wrong types, nested
	// objects holding field names), sometimes cut or spliced.
	names := []string{`"project_id"`, `"file"`, `"user_id"`, `"files"`, `"token"`, `"force"`, `"ttl_seconds"`,
		`"File"`, `"USER_ID"`, `"Project_Id"`, `"fil\u0065"`, `"x"`, `"ſile"`, `"release_previous"`, `""`}
	values := []string{`"p"`, `"a.jpg"`, `7`, `-1.5e3`, `true`, `null`, `["a","b"]`, `[]`, `{"file":"n"}`,
		`"\"}"`, `{"a":[{"b":"]"}]}`, `"\u00e9"`, `tru`, `[1,`, `false`, `0`, `-0`, `01`, `1.`, `.5`, `-`, `1e999`,
		`1e3`, `1E+2`, `2.5e-3`, `9223372036854775807`, `9223372036854775808`, `truex`, `nul`, `nullx`, `"tab\there"`,
		`"é漢"`, `"a\nb"`, `1x`, `"<&>"`, "\"ctl\x01\"", `""`}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		b.WriteString(" {"[rng.IntN(2):])
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString([]string{",", " , ", ",\n"}[rng.IntN(3)])
			}
			b.WriteString(names[rng.IntN(len(names))])
			b.WriteString([]string{":", " : "}[rng.IntN(2)])
			b.WriteString(values[rng.IntN(len(values))])
		}
		b.WriteString([]string{"}", " }", "", "}x", "],"}[rng.IntN(5)])
		body := b.String()
		if !strings.HasPrefix(body, "{") && !strings.HasPrefix(body, " {") {
			body = "{" + body
		}
		sameDecoding(t, []byte(body))
	}
}

func FuzzDecodeParamsShortcut(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameDecoding(t, body) })
}
