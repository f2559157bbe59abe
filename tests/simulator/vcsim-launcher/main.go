// Command vcsim-launcher serves govmomi's vCenter simulator (the VPX model) over
// HTTPS on loopback with a certificate chosen by the caller, for vsctl's tests.
//
// It prints the server's URL (without credentials) on one line of stdout once
// the server accepts connections, and shuts down cleanly on SIGTERM or SIGINT.
package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator" // registers the /rest endpoints
)

func main() {
	certFile := flag.String("cert", "", "PEM file with the certificate chain to serve (leaf first)")
	keyFile := flag.String("key", "", "PEM file with the private key")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	mismatchedKey := flag.Bool("allow-mismatched-key", false,
		"serve the key even if it does not belong to the certificate (to test that clients verify handshake signatures)")
	clusterHosts := flag.Int("cluster-hosts", 3, "hosts per cluster")
	hosts := flag.Int("standalone-hosts", 1, "standalone hosts")
	vms := flag.Int("vms", 2, "VMs per resource pool")
	delays := methodDelays{}
	flag.Var(delays, "method-delay",
		"METHOD=MILLISECONDS: serve each call of a vim25 method that much later (repeatable), "+
			"so tests can act while a call is in flight")
	flag.Parse()

	if err := run(*certFile, *keyFile, *listen, *mismatchedKey, *clusterHosts, *hosts, *vms, delays); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim-launcher:", err)
		os.Exit(1)
	}
}

// methodDelays collects -method-delay flags into the simulator's per-method delays.
type methodDelays map[string]int

func (d methodDelays) String() string { return fmt.Sprint(map[string]int(d)) }

func (d methodDelays) Set(value string) error {
	parts := strings.SplitN(value, "=", 2)
	if len(parts) != 2 || parts[0] == "" {
		return fmt.Errorf("want METHOD=MILLISECONDS, got %q", value)
	}
	ms, err := strconv.Atoi(parts[1])
	if err != nil || ms < 0 {
		return fmt.Errorf("want METHOD=MILLISECONDS, got %q", value)
	}
	d[parts[0]] = ms
	return nil
}

func run(certFile, keyFile, listen string, mismatchedKey bool, clusterHosts, hosts, vms int, delays methodDelays) error {
	if certFile == "" || keyFile == "" {
		return errors.New("-cert and -key are required")
	}
	cert, err := loadKeyPair(certFile, keyFile, mismatchedKey)
	if err != nil {
		return err
	}

	model := simulator.VPX()
	model.ClusterHost = clusterHosts
	model.Host = hosts
	model.Machine = vms
	if len(delays) > 0 {
		model.DelayConfig.MethodDelay = delays
	}
	if err := model.Create(); err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	defer model.Remove()

	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{Host: listen}
	server := model.Service.NewServer()
	defer server.Close()

	public := *server.URL
	public.User = nil
	fmt.Println(public.String())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	return nil
}

// loadKeyPair reads the certificate chain and key. Go's tls.X509KeyPair refuses
// a key that does not match the certificate; with mismatched set we build the
// pair by hand so a test can serve a certificate whose private key it lacks.
func loadKeyPair(certFile, keyFile string, mismatched bool) (tls.Certificate, error) {
	if !mismatched {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	certPEM, err := ioutil.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := ioutil.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	var pair tls.Certificate
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			pair.Certificate = append(pair.Certificate, block.Bytes)
		}
	}
	if len(pair.Certificate) == 0 {
		return tls.Certificate{}, fmt.Errorf("%s: no CERTIFICATE block", certFile)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return tls.Certificate{}, fmt.Errorf("%s: no PEM block", keyFile)
	}
	key, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyFile, err)
	}
	pair.PrivateKey = key
	return pair, nil
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParseECPrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	return nil, errors.New("unsupported private key format (want PKCS#8, SEC1 or PKCS#1)")
}
