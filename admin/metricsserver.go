package admin

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/limits"
)

// MetricsOptions configures a metrics-only server ([metrics]).
type MetricsOptions struct {
	// Registry is what /metrics serves (the admin API's, when both run).
	Registry *prometheus.Registry
	// Metrics counts the listener's refused connections and lockouts.
	Metrics *metrics.Metrics
	// Token, when set, is required as "Authorization: Bearer <token>";
	// at least MinMetricsTokenLen characters. Wrong tokens are paced as
	// on the admin API.
	Token string
	// TLS, when set, makes Serve speak HTTPS.
	TLS    *tls.Config
	Logger *slog.Logger
}

// MinMetricsTokenLen is the shortest metrics token accepted.
const MinMetricsTokenLen = 16

// NewMetricsServer returns a server for /metrics alone: any other path is
// 404, any other method 405. It has the admin API's connection caps and
// timeouts; Serve and Shutdown work as on the admin API.
func NewMetricsServer(opt MetricsOptions) (*Server, error) {
	if opt.Registry == nil || opt.Metrics == nil {
		return nil, errors.New("admin: NewMetricsServer needs a Registry and its Metrics")
	}
	if opt.Token != "" && (len(opt.Token) < MinMetricsTokenLen || strings.ContainsAny(opt.Token, " \t\r\n") || httpio.CheckText(opt.Token) != nil) {
		return nil, fmt.Errorf("admin: the metrics token must be at least %d characters, without whitespace or control characters", MinMetricsTokenLen)
	}
	// A Server with a placeholder admin token: only the handler below
	// ever checks a token, against the metrics token.
	s, err := newAdminServer(Options{BearerToken: strings.Repeat("-", limits.AdminMinTokenLen), Registry: opt.Registry, Metrics: opt.Metrics,
		TLS: opt.TLS, Logger: opt.Logger}, nopBackend{}, false)
	if err != nil {
		return nil, err
	}
	s.log = s.log.With("listener", "metrics")
	if opt.Token != "" {
		s.token = sha256.Sum256([]byte(opt.Token))
	} else {
		s.token = [sha256.Size]byte{} // never matched: there is no token to check
	}
	public := opt.Token == ""
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cleanPath(r.URL.Path) != "/metrics" {
			httpio.WriteText(w, http.StatusNotFound, "not found: this listener serves /metrics only\n")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpio.WriteText(w, http.StatusMethodNotAllowed, "method not allowed\n")
			return
		}
		if !public {
			if _, ok := s.authorize(w, r, false); !ok {
				return
			}
		}
		s.metricsH.ServeHTTP(w, r)
	})
	s.srv.Handler = s.handler
	return s, nil
}

// nopBackend is the metrics server's Backend: it serves no API (its
// handler never calls it).
type nopBackend struct{ backend.Backend }
