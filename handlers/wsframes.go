package handlers

import "encoding/binary"

// wsFrames parses the frames a client sends (RFC 6455 §5) from bytes fed
// to it in pieces of any size, so that a WebSocket's reader can wait for
// data without a buffer and with a small stack, and parse what came in one
// go. A message is kept only while its frames arrive; one bigger than
// bodyLimit is skipped (tooLarge), one bigger than readLimit ends the
// connection (wsProtocolError 1009).
type wsFrames struct {
	bodyLimit, readLimit int64

	hdr    [14]byte
	nh     int // header bytes so far
	inBody bool
	op     byte // opcode of the current frame
	fin    bool
	key    [4]byte
	remain int64 // payload bytes of the current frame still to come
	pos    int   // payload offset, for the mask

	msgOp   byte // opcode of the message in progress (0: none)
	msg     []byte
	size    int64 // message bytes so far
	discard bool  // the message is over bodyLimit
	ctl     []byte
}

// wsEvent is what a fed piece completed: a data message, a message that
// was too large, or a control frame.
type wsEvent struct {
	op       byte // 1 text, 2 binary, 8 close, 9 ping, 10 pong
	data     []byte
	tooLarge bool
}

// wsProtocolError ends the connection with a close code.
type wsProtocolError struct {
	code int
	text string
}

func (e *wsProtocolError) Error() string { return e.text }

const (
	wsOpCont   = 0
	wsOpText   = 1
	wsOpBinary = 2
	wsOpClose  = 8
	wsOpPing   = 9
	wsOpPong   = 10
)

// feed parses b and appends what it completed to out.
func (f *wsFrames) feed(b []byte, out []wsEvent) ([]wsEvent, error) {
	for len(b) > 0 {
		if !f.inBody {
			n, err := f.header(b)
			if err != nil {
				return out, err
			}
			b = b[n:]
			if !f.inBody {
				continue // header incomplete
			}
		} else {
			n := int(min(int64(len(b)), f.remain))
			f.payload(b[:n])
			b = b[n:]
			f.remain -= int64(n)
		}
		if f.inBody && f.remain == 0 {
			out = f.frameEnd(out)
		}
	}
	return out, nil
}

// header takes header bytes from b; when the header is complete it is
// checked and the payload begins.
func (f *wsFrames) header(b []byte) (int, error) {
	need := 2
	if f.nh >= 2 {
		need = 2 + 4
		switch f.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
	}
	n := copy(f.hdr[f.nh:need], b)
	f.nh += n
	if f.nh < need {
		return n, nil
	}
	if need == 2 { // the length's size is known now
		m, err := f.header(b[n:])
		return n + m, err
	}
	h := f.hdr[:f.nh]
	f.nh = 0
	if h[0]&0x70 != 0 {
		return n, &wsProtocolError{1002, "reserved bits set"}
	}
	if h[1]&0x80 == 0 {
		return n, &wsProtocolError{1002, "client frames must be masked"}
	}
	f.op, f.fin = h[0]&0x0f, h[0]&0x80 != 0
	length := int64(h[1] & 0x7f)
	rest := h[2:]
	switch length {
	case 126:
		length, rest = int64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		u := binary.BigEndian.Uint64(rest)
		if u > 1<<62 {
			return n, &wsProtocolError{1009, "frame too large"}
		}
		length, rest = int64(u), rest[8:]
	}
	copy(f.key[:], rest)
	f.remain, f.pos, f.inBody = length, 0, true
	switch f.op {
	case wsOpClose, wsOpPing, wsOpPong:
		if !f.fin || length > 125 {
			return n, &wsProtocolError{1002, "bad control frame"}
		}
		f.ctl = nil
	case wsOpText, wsOpBinary:
		if f.msgOp != 0 {
			return n, &wsProtocolError{1002, "a message began inside another"}
		}
		f.msgOp, f.size, f.discard = f.op, 0, false
		fallthrough
	case wsOpCont:
		if f.msgOp == 0 {
			return n, &wsProtocolError{1002, "continuation without a message"}
		}
		f.size += length
		if f.size > f.readLimit {
			return n, &wsProtocolError{1009, "message too large"}
		}
		if f.size > f.bodyLimit {
			f.discard, f.msg = true, nil
		}
	default:
		return n, &wsProtocolError{1002, "unknown opcode"}
	}
	return n, nil
}

// payload unmasks b into the current frame's destination.
func (f *wsFrames) payload(b []byte) {
	ctl := f.op >= wsOpClose
	if !ctl && f.discard {
		f.pos += len(b)
		return
	}
	dst := &f.msg
	if ctl {
		dst = &f.ctl
	} else if *dst == nil {
		// The message's first frame: room for it whole (it is at most
		// bodyLimit, or discarded).
		*dst = make([]byte, 0, max(f.remain, 64))
	}
	n := len(*dst)
	*dst = append(*dst, b...)
	p := (*dst)[n:]
	for i := range p {
		p[i] ^= f.key[(f.pos+i)&3]
	}
	f.pos += len(p)
}

func (f *wsFrames) frameEnd(out []wsEvent) []wsEvent {
	f.inBody = false
	if f.op >= wsOpClose {
		ev := wsEvent{op: f.op, data: f.ctl}
		if ev.data == nil {
			ev.data = []byte{}
		}
		f.ctl = nil // rare: not kept
		return append(out, ev)
	}
	if !f.fin {
		return out
	}
	ev := wsEvent{op: f.msgOp, data: f.msg, tooLarge: f.discard}
	if ev.data == nil && !ev.tooLarge {
		ev.data = []byte{}
	}
	f.msgOp, f.msg, f.size, f.discard = 0, nil, 0, false
	return append(out, ev)
}
