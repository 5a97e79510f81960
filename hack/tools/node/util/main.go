// Command node-util is the one binary of the test node's image:
//
//	node-util [pause]              block until SIGTERM/SIGINT (the Pod sandbox's process)
//	node-util proxy ADDR SOCKET    accept TCP on ADDR and pipe each connection to the unix SOCKET
//	node-util apiserver-check      from inside a Pod: GET /version and POST a SelfSubjectReview
//	                               through the `kubernetes` Service with the Pod's
//	                               service-account token; writes a JSON summary to stdout
//	                               and /dev/termination-log
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"pause"}
	}
	var err error
	switch args[0] {
	case "pause":
		pause()
	case "proxy":
		if len(args) != 3 {
			err = fmt.Errorf("usage: node-util proxy ADDR SOCKET")
			break
		}
		err = proxy(args[1], args[2])
	case "apiserver-check":
		err = apiserverCheck()
	default:
		err = fmt.Errorf("unknown command %q (pause, proxy, apiserver-check)", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node-util:", err)
		_ = os.WriteFile("/dev/termination-log", []byte(err.Error()), 0o644)
		os.Exit(1)
	}
}

func pause() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func proxy(addr, socket string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("unix", socket, 5*time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, "node-util proxy:", err)
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(u, c); closeWrite(u); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, u); closeWrite(c); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func apiserverCheck() error {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return fmt.Errorf("KUBERNETES_SERVICE_HOST/PORT not set")
	}
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return err
	}
	caPem, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPem) {
		return fmt.Errorf("no certificate in %s/ca.crt", saDir)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + net.JoinHostPort(host, port)
	call := func(method, path string, body []byte, out any) error {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, path, res.StatusCode, b)
		}
		return json.Unmarshal(b, out)
	}
	var version struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := call("GET", "/version", nil, &version); err != nil {
		return err
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	ssr := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	if err := call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", ssr, &review); err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]string{"server": base, "gitVersion": version.GitVersion, "username": review.Status.UserInfo.Username})
	fmt.Println(string(out))
	return os.WriteFile("/dev/termination-log", out, 0o644)
}
