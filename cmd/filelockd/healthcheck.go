package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"filelock/configs"
)

// healthcheckTimeout bounds the probe: /readyz answers within the store
// timeout.
const healthcheckTimeout = 3 * time.Second

// healthcheck is `filelockd healthcheck [--config FILE] [--section.key
// value ...]`: it asks GET /readyz of the server at http.addr (a wildcard
// host means this machine's loopback) and returns nil only on a 200. It
// needs no shell or curl, for a container's HEALTHCHECK.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := configs.Load(args, getenv)
	if err != nil {
		return err
	}
	url, err := readyzURL(cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// Straight to the server: no HTTP_PROXY of the environment.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, res.Status, body)
	}
	fmt.Fprintf(stdout, "ok: %s\n", url)
	return nil
}

// readyzURL is the /readyz URL of a server listening on addr.
func readyzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http.addr: %w", err)
	}
	if port == "0" {
		return "", fmt.Errorf("http.addr: port 0 (a free port) cannot be probed; give the server's port")
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
