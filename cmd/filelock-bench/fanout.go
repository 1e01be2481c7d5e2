package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutConfig is one fan-out measurement: n subscribers of one project
// over a transport (or both), then events publishes every interval.
type fanoutConfig struct {
	base     string
	pid      int
	mode     string // sse, ws, or mixed: the even subscribers SSE, the odd ones WebSockets
	n        int
	events   int
	interval time.Duration
	ramp     int           // new connections per second (0: at once)
	settle   time.Duration // pause between "all ready" and the RSS reading
	timeout  time.Duration
	project  string
}

// fanoutResult is what a measurement found.
type fanoutResult struct {
	ready, failed, dropped int64
	kBPerConn              float64
	lat                    []time.Duration // sorted, over every delivered (subscriber, event)
	missing, dups          int64
	serverCPU              float64
	err                    error
	// The same per transport: ready subscribers and their sorted
	// latencies, SSE and WebSocket (one of them empty unless mode mixed).
	readySSE, readyWS int64
	latSSE, latWS     []time.Duration
}

// fanout measures like the reference instrument: subscribers connect (from
// source addresses spread over 127.0.0.2-250), are ready on their first
// event (SSE) or their join reply (WebSocket), the server's VmRSS growth is
// divided by the ready connections, then each event is a POST /lock whose
// file carries its send time; latency is the receive time of the event's
// first line minus that send time.
func fanout(c fanoutConfig) fanoutResult {
	b := &fanBench{c: c, lat: make([]atomic.Int64, c.n*c.events), sentAt: make([]atomic.Int64, c.events)}
	for i := range b.lat {
		b.lat[i].Store(-1)
	}
	var res fanoutResult
	rssBefore := vmRSS(c.pid)
	start := time.Now()
	var conns sync.WaitGroup
	stop := make(chan struct{})
	for i := range c.n {
		if c.ramp > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(c.ramp))))
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			b.conn(i, stop)
		}()
	}
	deadline := time.Now().Add(c.timeout)
	for b.ready.Load()+b.failed.Load() < int64(c.n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(c.settle)
	res.ready, res.readyWS = b.ready.Load(), b.readyWS.Load()
	res.readySSE = res.ready - res.readyWS
	if c.pid > 0 && res.ready > 0 {
		res.kBPerConn = float64(vmRSS(c.pid)-rssBefore) / float64(res.ready)
	} else {
		res.kBPerConn = math.NaN()
	}
	if c.events > 0 {
		cpu := cpuSeconds(c.pid)
		res.err = b.publishAll()
		want := res.ready * int64(c.events)
		last := time.Now()
		for b.delivered.Load() < want && time.Since(last) < c.timeout {
			if d := b.lastDelivery.Load(); d > last.UnixNano() {
				last = time.Unix(0, d)
			}
			if time.Since(last) > 5*time.Second { // nothing new for 5s: what is missing stays missing
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		res.serverCPU = cpuSeconds(c.pid) - cpu
	}
	res.failed, res.dropped, res.dups = b.failed.Load(), b.dropped.Load(), b.dup.Load()
	close(stop)
	b.closeAll()
	conns.Wait()
	for i := range b.lat {
		if l := b.lat[i].Load(); l >= 0 {
			res.lat = append(res.lat, time.Duration(l))
			if b.ws(i / c.events) { // lat[i] is subscriber i/events
				res.latWS = append(res.latWS, time.Duration(l))
			} else {
				res.latSSE = append(res.latSSE, time.Duration(l))
			}
		}
	}
	res.lat, res.latSSE, res.latWS = sorted(res.lat), sorted(res.latSSE), sorted(res.latWS)
	res.missing = res.ready*int64(c.events) - int64(len(res.lat))
	return res
}

type fanBench struct {
	c                            fanoutConfig
	lat                          []atomic.Int64 // lat[i*events+e], ns; -1 = not delivered
	sentAt                       []atomic.Int64 // send time of event e, Unix ns
	tsIndex                      sync.Map       // send time -> event number
	ready, failed, dropped       atomic.Int64
	readyWS                      atomic.Int64 // of ready, the WebSockets
	delivered, dup, lastDelivery atomic.Int64
	closersMu                    sync.Mutex
	closers                      []io.Closer
}

func (b *fanBench) track(c io.Closer) {
	b.closersMu.Lock()
	b.closers = append(b.closers, c)
	b.closersMu.Unlock()
}

func (b *fanBench) closeAll() {
	b.closersMu.Lock()
	defer b.closersMu.Unlock()
	for _, c := range b.closers {
		_ = c.Close()
	}
}

// conn runs subscriber i until its stream ends or stop.
func (b *fanBench) conn(i int, stop <-chan struct{}) {
	isReady := false
	var err error
	if b.ws(i) {
		err = b.wsSubscriber(i, &isReady)
	} else {
		err = b.sseSubscriber(i, &isReady)
	}
	select {
	case <-stop:
		return
	default:
	}
	if isReady {
		b.dropped.Add(1)
	} else {
		b.failed.Add(1)
		if b.failed.Load() <= 3 {
			fmt.Fprintf(os.Stderr, "subscriber %d: %v\n", i, err)
		}
	}
}

// ws reports whether subscriber i is a WebSocket: every one in mode ws,
// the odd ones in mode mixed.
func (b *fanBench) ws(i int) bool {
	return b.c.mode == "ws" || b.c.mode == "mixed" && i%2 == 1
}

// setReady counts subscriber i ready, once.
func (b *fanBench) setReady(i int, isReady *bool) {
	if !*isReady {
		*isReady = true
		b.ready.Add(1)
		if b.ws(i) {
			b.readyWS.Add(1)
		}
	}
}

// dialSpread connects to addr from source address 127.0.0.(2+i%249), so
// that tens of thousands of sockets do not run out of ephemeral ports.
func dialSpread(i int, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%249))}}
	return d.Dial("tcp", addr)
}

// sseSubscriber opens GET /events/{project} by hand and reads the stream.
func (b *fanBench) sseSubscriber(i int, isReady *bool) error {
	host := strings.TrimPrefix(b.c.base, "http://")
	c, err := dialSpread(i, host)
	if err != nil {
		return err
	}
	b.track(c)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(b.c.timeout))
	req := "GET /events/" + b.c.project + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 2048), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 4096)
	var typ, data string
	var first int64
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != "" {
				if !*isReady {
					_ = c.SetDeadline(time.Time{})
					b.setReady(i, isReady)
				}
				if typ == "lock_acquired" {
					b.deliver(i, data, first)
				}
			}
			typ, data, first = "", "", 0
		case line[0] == ':':
		default:
			if first == 0 {
				first = now
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				data = value
			}
		}
	}
}

// deliver files subscriber i's receipt, at recv, of the event whose data is data.
func (b *fanBench) deliver(i int, data string, recv int64) {
	e := b.findTS(data)
	if e < 0 {
		return
	}
	if b.lat[i*b.c.events+e].CompareAndSwap(-1, recv-b.sentAt[e].Load()) {
		b.delivered.Add(1)
		b.lastDelivery.Store(recv)
	} else {
		b.dup.Add(1)
	}
}

// findTS finds the publish whose send time is in the event's file name "f-<ts>".
func (b *fanBench) findTS(data string) int {
	_, rest, ok := strings.Cut(data, `"file":"f-`)
	if !ok {
		return -1
	}
	digits, _, _ := strings.Cut(rest, `"`)
	ts, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return -1
	}
	if e, ok := b.tsIndex.Load(ts); ok {
		return e.(int)
	}
	return -1
}

// publishAll sends the events on schedule: each one is a POST /lock of a
// new file by a new user, whose lock_acquired every subscriber receives.
func (b *fanBench) publishAll() error {
	cl := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	var firstErr error
	for e := range b.c.events {
		time.Sleep(time.Until(start.Add(time.Duration(e) * b.c.interval)))
		ts := time.Now().UnixNano()
		b.tsIndex.Store(ts, e)
		b.sentAt[e].Store(ts)
		body := fmt.Sprintf(`{"project_id":%q,"file":"f-%d","user_id":"u-%d"}`, b.c.project, ts, ts)
		resp, err := cl.Post(b.c.base+"/lock", "application/json", strings.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("publish: HTTP %d", resp.StatusCode)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
