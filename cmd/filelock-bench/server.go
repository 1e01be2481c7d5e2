package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// target is the filelock under test: its base URL and, when known, its pid.
type target struct {
	base string
	pid  int
	stop func()
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// spawn starts a fresh filelockd (bin) on a free port with the store
// backend given and every connection limit off, and waits until it is
// healthy. env entries are added to the child's environment.
func spawn(bin, backend, redisAddr string, env ...string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"FILELOCK_HTTP_ADDR="+addr,
		"FILELOCK_STORE_BACKEND="+backend,
		"FILELOCK_LIMITS_MAX_CONNECTIONS=0",
		"FILELOCK_LIMITS_MAX_CONNECTIONS_PER_USER=0",
		"FILELOCK_LIMITS_USER_RPS=0",
		"FILELOCK_LOG_LEVEL=warn",
	)
	if backend == "redis" {
		cmd.Env = append(cmd.Env, "FILELOCK_REDIS_ADDRS="+redisAddr, fmt.Sprintf("FILELOCK_REDIS_KEY_PREFIX=bench%d:", time.Now().UnixNano()))
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{base: "http://" + addr, pid: cmd.Process.Pid, stop: func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}}
	if err := waitHealthy(t.base + "/healthz"); err != nil {
		t.stop()
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	return t, nil
}

// startNull starts this program again as a null JSON HTTP server (-null-server)
// in a process of its own, as filelockd runs in one.
func startNull() (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-null-server", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{base: "http://" + addr, pid: cmd.Process.Pid, stop: func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }}
	if err := waitHealthy(t.base + "/healthz"); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

func waitHealthy(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after 20s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveNull is the null server: every POST decodes a JSON object and answers
// one (a lock reply's size), the least work an HTTP JSON API can do.
func serveNull(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 16384)).Decode(&in); err != nil {
			http.Error(w, `{"error":{"code":"invalid_request"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"acquired": true, "renewed": false, "lock": map[string]any{
			"project_id": in["project_id"], "file": in["file"], "user": in["user_id"], "token": 1,
			"acquired_at": time.Now().UTC(), "expires_at": time.Now().UTC().Add(90 * time.Second)}})
	})
	return (&http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
}
