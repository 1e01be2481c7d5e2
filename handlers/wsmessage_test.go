package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"filelock"
	"filelock/session"
)

// sameEnvelope checks that parseWSMessage splits frame as encoding/json
// does (parseWSMessageJSON): the same ref, name and data, or the same
// error.
func sameEnvelope(t *testing.T, frame []byte) {
	t.Helper()
	ref, name, body, err := parseWSMessage(frame)
	wref, wname, wbody, werr := parseWSMessageJSON(frame)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("%q: error %v, want %v", frame, err, werr)
	}
	var fe, we *filelock.Error
	if errors.As(err, &fe) && errors.As(werr, &we) && (fe.Field != we.Field || fe.Code != we.Code) {
		t.Fatalf("%q: error %+v, want %+v", frame, fe, we)
	}
	if (ref == nil) != (wref == nil) || !bytes.Equal(ref, wref) {
		t.Fatalf("%q: ref %q, want %q", frame, ref, wref)
	}
	if name != wname || !bytes.Equal(body, wbody) || (body == nil) != (wbody == nil) {
		t.Fatalf("%q: name %q data %q, want %q %q", frame, name, body, wname, wbody)
	}
}

var envelopeSeeds = []string{
	`{"event":"lock","ref":"1","data":{"project_id":"p","file":"a.jpg"}}`,
	` { "event" : "unlock" , "data" : { "project_id" : "p" , "file" : "a" , "token" : 7 } , "ref" : 12 } `,
	`{"event":"heartbeat"}`, `{"event":"heartbeat","data":null}`, `{"event":"heartbeat","data":null,"ref":null}`,
	`{"event":"join_project","data":{"project_id":"p","user_id":"u","last_event_id":"5"},"ref":"j"}`,
	`{"event":"claim","data":{"project_id":"p","files":["a","b"]},"ref":"c"}`,
	`{}`, `[]`, `null`, `"x"`, `1`, ``, ` `, `{`, `{"event"}`, `{"event":}`, `{"event":"lock",}`, `{"event":"lock"}x`,
	`{"event":"lock"}{}`, `{"event":"lock"} `, `{"event":""}`, `{"event":null}`, `{"event":1}`, `{"event":true}`,
	`{"event":["lock"]}`, `{"event":{"a":1}}`, `{"Event":"lock"}`, `{"EVENT":"lock","event":"unlock"}`,
	`{"ev\u0065nt":"lock"}`, `{"event":"lo\u0063k"}`, `{"event":"lock","event":"unlock"}`, `{"event":"lock","event":5}`,
	"{\"event\":\"l\xffk\"}", "{\"event\":\"lock\",\"ref\":\"\xff\"}", `{"event":"lock","ref":{"a":[1,2]}}`,
	`{"event":"lock","ref":{"a":1}}`, `{"event":"lock","ref":{ "a" : 1 }}`, `{"event":"lock","ref":[1]}`,
	`{"event":"lock","ref":"a<b>&"}`, `{"event":"lock","ref":"\u2028"}`, `{"event":"lock","ref":"q\"uote"}`,
	`{"event":"lock","ref":1e999}`, `{"event":"lock","ref":-0.5E+3}`, `{"event":"lock","ref":01}`, `{"event":"lock","ref":true}`,
	`{"event":"lock","ref":"1","ref":null}`, `{"event":"lock","ref":null,"ref":"2"}`, `{"event":"lock","data":"x"}`,
	`{"event":"lock","data":5}`, `{"event":"lock","data":[1]}`, `{"event":"lock","data":{"a":{"b":1}}}`,
	`{"event":"lock","data":{"a":1},"data":null}`, `{"event":"lock","data":{},"x":[{"y":"}"}]}`, `{"event":"lock","x":tru}`,
	`{"event":"lock","x":nul}`, "{\"event\":\"lock\",\"data\":{\"file\":\"a\tb\"}}", `{"event":"lock","data":{"file":"a\nb"}}`,
	`{"event":"lock","data":{"file":"é漢"}}`, `{"event":"lock","data":{,}}`, `{"event":"lock","data":{"a":1,}}`,
	"{\"event\":\"lock\"}\n\r\t", `{"event":"lock","ref":"1"`, `{"event" "lock"}`, `{"event":"lock" "ref":1}`,
	`{"event":"lock","ref":"\u0000"}`, "{\"event\":\"lock\",\"ref\":\"a\x01\"}",
}

func TestWSEnvelope(t *testing.T) {
	for _, s := range envelopeSeeds {
		sameEnvelope(t, []byte(s))
	}
	// Random frames: members from a small alphabet of names (exact,
	// folded, escaped, unknown) and values (of every kind, nested, broken),
	// sometimes cut or spliced.
	names := []string{`"event"`, `"ref"`, `"data"`, `"Event"`, `"REF"`, `"dat\u0061"`, `"x"`, `""`, `"event "`}
	values := []string{`"lock"`, `"unlock"`, `"join_project"`, `""`, `"1"`, `7`, `-1.5e3`, `true`, `false`, `null`,
		`{"project_id":"p","file":"a"}`, `{}`, `{ }`, `{"a":{"b":1}}`, `["a"]`, `[]`, `"a<b"`, `"\u00e9"`, `"l\u006fck"`,
		`tru`, `[1,`, `{"a":`, `01`, `1.`, `-`, `1e999`, `"é漢"`, "\"bad\xff\"", "\"ctl\x01\"", `"a\nb"`, `{"file":"x\"y"}`,
		`{"a":1,}`, `{"a" 1}`, `nullx`}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 30000 {
		var b strings.Builder
		b.WriteString([]string{"{", " {", "[", ""}[rng.IntN(4)])
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString([]string{",", " , ", ",\n", ",,"}[rng.IntN(4)])
			}
			b.WriteString(names[rng.IntN(len(names))])
			b.WriteString([]string{":", " : ", ""}[rng.IntN(3)])
			b.WriteString(values[rng.IntN(len(values))])
		}
		b.WriteString([]string{"}", " }", "", "}x", "]", "}}"}[rng.IntN(6)])
		sameEnvelope(t, []byte(b.String()))
	}
}

func FuzzWSEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) { sameEnvelope(t, frame) })
}

// TestWSEnvelopeShortcut: the common messages are split by hand.
func TestWSEnvelopeShortcut(t *testing.T) {
	for _, s := range []string{
		`{"event":"lock","ref":"1","data":{"project_id":"p","file":"a.jpg"}}`,
		`{"event":"unlock","data":{"project_id":"p","file":"a","token":7},"ref":12}`,
		`{"event":"heartbeat","data":{"project_id":"p"}}`,
		`{"event":"join_project","ref":"j","data":{"project_id":"p","user_id":"u"}}`,
	} {
		if _, _, _, ok := parseWSFlat([]byte(s)); !ok {
			t.Errorf("%s goes through encoding/json", s)
		}
	}
}

// TestWSAnswer: a reply or error event appended by hand is byte for byte
// encoding/json's wsFrame, for refs of every kind as parseWSMessage hands
// them out and data as replies and errors are encoded.
func TestWSAnswer(t *testing.T) {
	refs := []string{`"1"`, `12`, `-0.5E+3`, `1e999`, `true`, `false`, `"a<b>&c"`, `"\u2028x"`, "\"\u2028\u2029\"",
		"\"bad\xff\xfe\"", `"q\"uote"`, `"a b"`, `{"a":1}`, `{ "a" : [ 1 , 2 ] }`, `[1,"x",{"y":null}]`, `"é漢🙂"`,
		`"\u003c"`, "\"\xe2\x80\"", `""`, `{}`, `[]`}
	datas := []string{`{"ok":true}`, `{"ok":true,"project_id":"p"}`, `{"ok":false,"error":{"code":"not_owner","message":"a \u003c b"}}`,
		`{"code":"invalid_request","message":"m"}`, `null`, ``}
	rng := rand.New(rand.NewPCG(9, 10))
	check := func(ref, data []byte) {
		t.Helper()
		f := wsFrame{Event: msgReply, Ref: ref, Data: data}
		if ref == nil {
			f.Event = msgError
		}
		want, werr := json.Marshal(f)
		got, err := appendWSAnswer([]byte("prefix"), ref, data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("ref %q data %q: error %v, want %v", ref, data, err, werr)
		}
		if err == nil && string(got) != "prefix"+string(want) {
			t.Fatalf("ref %q data %q:\n got %s\nwant %s", ref, data, got[6:], want)
		}
	}
	for range 5000 {
		var ref []byte
		if rng.IntN(4) > 0 {
			frame := `{"event":"lock","ref":` + refs[rng.IntN(len(refs))] + `}`
			r, _, _, err := parseWSMessage([]byte(frame))
			if err != nil {
				t.Fatalf("%s: %v", frame, err)
			}
			ref = r
		}
		var data []byte
		if d := datas[rng.IntN(len(datas))]; d != "" {
			data = []byte(d)
		}
		if rng.IntN(3) == 0 {
			l := filelock.Lock{ProjectID: "p", File: string(rune(rng.IntN(0x3000))) + "<&>", User: "u\u2028", Token: rng.Int64()}
			data = session.OK(UnlockReply{Released: true, Lock: l})
		}
		check(ref, data)
	}
}
