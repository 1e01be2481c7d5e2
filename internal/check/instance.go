package check

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Build builds cmd/filelockd into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "filelockd")
	cmd := exec.Command("go", "build", "-o", bin, "filelock/cmd/filelockd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building filelockd: %w: %s", err, out)
	}
	return bin, nil
}

// Instance is one filelockd process on a loopback port that stays the
// same across Kill and Start.
type Instance struct {
	URL  string
	bin  string
	addr string
	env  []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedWriter
}

// StartInstance starts filelockd (bin) with the environment env (FILELOCK_*
// keys; http.addr is set here) and waits until it answers /healthz.
func StartInstance(bin string, env map[string]string) (*Instance, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	i := &Instance{URL: "http://" + addr, bin: bin, addr: addr}
	for k, v := range env {
		i.env = append(i.env, k+"="+v)
	}
	i.env = append(i.env, "FILELOCK_HTTP_ADDR="+addr, "PATH="+os.Getenv("PATH"))
	return i, i.Start()
}

// Start starts the (killed) instance again on its address.
func (i *Instance) Start() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cmd != nil {
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := i.spawn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the port may linger after a kill
	}
}

func (i *Instance) spawn() error {
	cmd := exec.Command(i.bin)
	cmd.Env = i.env
	i.out = &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = i.out, i.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that started the process ends, so
	// the process is started and waited for on a goroutine locked to its
	// thread for the process's whole life.
	done := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the process
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("filelockd on %s exited: %s", i.addr, i.out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, i.URL+"/healthz", nil)
		res, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				i.cmd, i.done = cmd, done
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("filelockd on %s did not answer /healthz within 15s", i.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns the end of the instance's output (its last life).
func (i *Instance) Log() string {
	i.mu.Lock()
	out := i.out
	i.mu.Unlock()
	if out == nil {
		return ""
	}
	s := out.String()
	return s[max(0, len(s)-4000):]
}

// Exited reports whether the instance's process ended by itself.
func (i *Instance) Exited() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cmd == nil {
		return false
	}
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// Kill kills the instance with SIGKILL (nothing is cleaned up) and waits
// until it is gone.
func (i *Instance) Kill() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cmd == nil {
		return
	}
	_ = i.cmd.Process.Signal(syscall.SIGKILL)
	<-i.done
	i.cmd = nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		return len(p), nil
	}
	return l.w.Write(p)
}
