package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// loadResult is the outcome of a request load.
type loadResult struct {
	requests  int
	perSecond float64
	lat       []time.Duration // sorted
	errors    int64
	err       error
}

func finish(lat [][]time.Duration, d time.Duration, errs int64) loadResult {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return loadResult{requests: len(all), perSecond: float64(len(all)) / d.Seconds(), lat: sorted(all), errors: errs}
}

// httpLockLoad is the reference lockload: c workers, one user each, over p
// projects × f files, each cycle a POST /lock then a POST /unlock of the
// file; every request (a 409 included) counts. Against the null server the
// same requests get its canned answer.
func httpLockLoad(base string, c, p, f int, d time.Duration, prefix string) loadResult {
	tr := &http.Transport{MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	post := func(path, body string) (int, error) {
		resp, err := cl.Post(base+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("u%d", w)
			for i := 0; time.Now().Before(stop); i++ {
				proj := fmt.Sprintf("%s-%d", prefix, (w+i)%p)
				file := fmt.Sprintf("img/%d-%d.jpg", w, i%f)
				body := fmt.Sprintf(`{"project_id":%q,"file":%q,"user_id":%q}`, proj, file, user)
				t0 := time.Now()
				code, err := post("/lock", body)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || code != 200 && code != 409 {
					errs.Add(1)
					continue
				}
				if code == 409 {
					continue
				}
				t1 := time.Now()
				code, err = post("/unlock", body)
				lat[w] = append(lat[w], time.Since(t1))
				if err != nil || code != 200 {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return finish(lat, d, errs.Load())
}

// wsLockLoad: c workers, each one WebSocket as its own user, joined to one
// of p projects (so it also receives that project's events, as a page
// does), cycling lock then unlock messages with a ref and waiting for each
// reply.
func wsLockLoad(base string, c, p, f int, d time.Duration, prefix string) loadResult {
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	conns := make([]*websocket.Conn, c)
	for w := range c {
		conn, _, err := wsDialer(w).Dial(wsURL(base), nil)
		if err != nil {
			return loadResult{err: err}
		}
		defer conn.Close()
		conns[w] = conn
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	var joined sync.WaitGroup
	ready := make(chan struct{})
	stop := make(chan struct{})
	for w, conn := range conns {
		wg.Add(1)
		joined.Add(1)
		go func() {
			defer wg.Done()
			proj := fmt.Sprintf("%s-%d", prefix, w%p)
			seq := 0
			var buf []byte
			call := func(event, data string) (bool, error) {
				seq++
				ref := strconv.Itoa(seq)
				msg := `{"event":"` + event + `","ref":"` + ref + `","data":` + data + `}`
				if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					return false, err
				}
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					var err error
					if buf, err = readMessage(conn, buf[:0]); err != nil {
						return false, err
					}
					if ok, isReply := replyTo(buf, ref); isReply {
						return ok, nil
					}
				}
			}
			if ok, err := call("join_project", fmt.Sprintf(`{"project_id":%q,"user_id":"u%d"}`, proj, w)); !ok {
				failed.Store(fmt.Errorf("join: %v", err))
			}
			joined.Done()
			<-ready
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				file := fmt.Sprintf("img/%d-%d.jpg", w, i%f)
				data := fmt.Sprintf(`{"project_id":%q,"file":%q}`, proj, file)
				t0 := time.Now()
				ok, err := call("lock", data)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					return
				}
				if !ok {
					continue
				}
				t1 := time.Now()
				ok, err = call("unlock", data)
				lat[w] = append(lat[w], time.Since(t1))
				if err != nil || !ok {
					errs.Add(1)
					if err != nil {
						return
					}
				}
			}
		}()
	}
	joined.Wait() // joins are not measured
	start := time.Now()
	close(ready)
	time.Sleep(d)
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return loadResult{err: err}
	}
	return finish(lat, time.Since(start), errs.Load())
}

// readMessage appends the connection's next message to buf, as a client
// that reads every message it is sent into a buffer of its own.
func readMessage(conn *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// replyTo tells whether msg is the reply to the message sent with ref and
// whether that reply is ok, as a client that awaits its reply needs to:
// events are told apart by their name, the reply checked for its ref
// without decoding it whole. A message of another shape is decoded with
// encoding/json.
func replyTo(msg []byte, ref string) (ok, isReply bool) {
	const head = `{"event":"`
	if bytes.HasPrefix(msg, []byte(head)) {
		name := msg[len(head):]
		if i := bytes.IndexByte(name, '"'); i >= 0 && string(name[:i]) != "reply" && !bytes.ContainsRune(name[:i], '\\') {
			return false, false // an event
		}
		if bytes.HasSuffix(msg, []byte(`,"ref":"`+ref+`"}`)) {
			switch {
			case bytes.HasPrefix(msg, []byte(head+`reply","data":{"ok":true`)):
				return true, true
			case bytes.HasPrefix(msg, []byte(head+`reply","data":{"ok":false`)):
				return false, true
			}
		}
	}
	var m wsMsg
	if json.Unmarshal(msg, &m) == nil && m.Event == "reply" && m.Ref == ref {
		return strings.HasPrefix(string(m.Data), `{"ok":true`), true
	}
	return false, false
}
