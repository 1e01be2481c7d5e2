package handlers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// clientFrame is a masked client frame (RFC 6455 §5.2).
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// TestWSFramesAnySplit: a stream of frames (a fragmented text message with
// a ping inside it, a 16-bit and a 64-bit length, an empty message, a pong,
// a close) parses the same however it is cut into pieces.
func TestWSFramesAnySplit(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	var stream []byte
	stream = append(stream, clientFrame(false, wsOpText, []byte(`{"event":`))...)
	stream = append(stream, clientFrame(true, wsOpPing, []byte("hi"))...)
	stream = append(stream, clientFrame(true, wsOpCont, []byte(`"x"}`))...)
	stream = append(stream, clientFrame(true, wsOpBinary, big)...)
	stream = append(stream, clientFrame(true, wsOpText, huge)...)
	stream = append(stream, clientFrame(true, wsOpText, nil)...)
	stream = append(stream, clientFrame(true, wsOpPong, nil)...)
	stream = append(stream, clientFrame(true, wsOpClose, []byte{0x03, 0xe8})...)
	want := []wsEvent{
		{op: wsOpPing, data: []byte("hi")},
		{op: wsOpText, data: []byte(`{"event":"x"}`)},
		{op: wsOpBinary, data: big},
		{op: wsOpText, tooLarge: true},
		{op: wsOpText, data: []byte{}},
		{op: wsOpPong, data: []byte{}},
		{op: wsOpClose, data: []byte{0x03, 0xe8}},
	}
	for _, piece := range []int{1, 2, 3, 7, 13, 100, 4096, len(stream)} {
		f := &wsFrames{bodyLimit: 16 << 10, readLimit: 1 << 20}
		var got []wsEvent
		for b := stream; len(b) > 0; {
			n := min(piece, len(b))
			var err error
			if got, err = f.feed(b[:n], got); err != nil {
				t.Fatalf("pieces of %d: %v", piece, err)
			}
			b = b[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("pieces of %d: %d events, want %d", piece, len(got), len(want))
		}
		for i := range want {
			if got[i].op != want[i].op || got[i].tooLarge != want[i].tooLarge || !bytes.Equal(got[i].data, want[i].data) {
				t.Fatalf("pieces of %d: event %d = {%d %q %v}, want {%d %q %v}", piece, i,
					got[i].op, got[i].data, got[i].tooLarge, want[i].op, want[i].data, want[i].tooLarge)
			}
		}
	}
}

// TestWSFramesRefused: what a client may not send ends the connection with
// the close code of RFC 6455 §7.4.1.
func TestWSFramesRefused(t *testing.T) {
	unmasked := clientFrame(true, wsOpText, []byte("a"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, wsOpText, []byte("a"))
	rsv[0] |= 0x40
	for name, c := range map[string]struct {
		stream []byte
		code   int
	}{
		"unmasked":            {unmasked, 1002},
		"reserved bits":       {rsv, 1002},
		"unknown opcode":      {clientFrame(true, 3, nil), 1002},
		"fragmented ping":     {clientFrame(false, wsOpPing, nil), 1002},
		"long control":        {clientFrame(true, wsOpPing, make([]byte, 126)), 1002},
		"lone continuation":   {clientFrame(true, wsOpCont, []byte("a")), 1002},
		"message in message":  {append(clientFrame(false, wsOpText, []byte("a")), clientFrame(true, wsOpText, []byte("b"))...), 1002},
		"over the read limit": {clientFrame(true, wsOpText, make([]byte, 1<<20+1)), 1009},
	} {
		f := &wsFrames{bodyLimit: 16 << 10, readLimit: 1 << 20}
		_, err := f.feed(c.stream, nil)
		var pe *wsProtocolError
		if !errors.As(err, &pe) || pe.code != c.code {
			t.Errorf("%s: %v, want close %d", name, err, c.code)
		}
	}
}
