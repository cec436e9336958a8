package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/pbxagent/pbxagent/config"
)

// Listen opens the metrics listener of cfg (metrics.listen), so a bad
// address is reported at start rather than in the background.
func Listen(cfg config.Metrics) (net.Listener, error) {
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: listen on %s: %w (change metrics.listen or stop what uses the port)", cfg.Listen, err)
	}
	return l, nil
}

// Serve serves /metrics on l until ctx is done, with TLS and basic auth
// when webConfig names a Prometheus exporter-toolkit web configuration file.
func (m *Metrics) Serve(ctx context.Context, l net.Listener, webConfig string, log *slog.Logger) error {
	if webConfig != "" {
		if err := web.Validate(webConfig); err != nil {
			l.Close()
			return fmt.Errorf("metrics.web_config %s: %w", webConfig, err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if host, _, _ := net.SplitHostPort(l.Addr().String()); webConfig == "" && !isLoopback(host) {
		log.Warn("metrics endpoint reachable from the network without TLS or authentication; set metrics.web_config", "listen", l.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "pbxagent: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck // shutting down
	}()
	flags := &web.FlagConfig{WebConfigFile: &webConfig}
	log.Info("metrics endpoint listening", "address", l.Addr().String(), "tls_auth_config", webConfig)
	err := web.Serve(l, srv, flags, log)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
