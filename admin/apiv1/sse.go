package apiv1

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchyard-mail/switchyard/admin/httpio"
)

// sseHeartbeat is how often an idle event stream sends a comment, so that
// proxies and the client see it alive.
const sseHeartbeat = 15 * time.Second

// sseWriteTimeout bounds one write to a stream's client.
const sseWriteTimeout = 30 * time.Second

// v1EventStream streams the activity log as server-sent events: first the
// events after "after" (or the Last-Event-ID header) still in the ring,
// then each new one, until the client leaves or the server shuts down.
// Each event is "id: <seq>", "event: <kind>", "data: <JSON>". Browsers'
// EventSource cannot send the Authorization header: read the stream with
// fetch() instead.
func (s *API) v1EventStream(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	match, after, err := s.eventQuery(c.q)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	if _, given := c.q["after"]; !given {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			if after, err = strconv.ParseUint(id, 10, 64); err != nil {
				httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("Last-Event-ID %q is not an event sequence number", id), httpio.WithParam("Last-Event-ID"))
				return
			}
		} else {
			after = s.events.Last() // from now on
		}
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		httpio.WriteProblem(w, r, http.StatusServiceUnavailable, httpio.ProblemUnavailable, fmt.Sprintf("%d event streams are open already", cap(s.streams)))
		return
	}
	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for requests, not streams.
	_ = rc.SetReadDeadline(time.Time{})
	httpio.SetBodyHeaders(w.Header(), "text/event-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		return rc.Flush() == nil
	}
	if _, err := fmt.Fprintf(w, ": switchyard events after %d\n\n", after); err != nil || !flush() {
		return
	}
	hb := time.NewTicker(sseHeartbeat)
	defer hb.Stop()
	for {
		evs, last := s.events.Since(after, 256, match)
		for _, e := range evs {
			data, _ := json.Marshal(e)
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, data); err != nil {
				return
			}
		}
		if len(evs) > 0 && !flush() {
			return
		}
		if len(evs) == 256 {
			after = evs[len(evs)-1].Seq
			continue
		}
		after = last
		select {
		case <-s.events.Wait(after):
		case <-hb.C:
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || !flush() {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// ClientFilter parses a filter on a client address: an IP ("192.0.2.7"),
// a network ("192.0.2.0/24") or an address with a port
// ("192.0.2.7:50412"). The function it returns matches a session's client
// ("ip:port").
func ClientFilter(v string) (func(client string) bool, error) {
	if v == "" {
		return func(string) bool { return true }, nil
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return func(c string) bool {
			got, err := netip.ParseAddrPort(c)
			return err == nil && got.Addr().Unmap() == ap.Addr().Unmap() && got.Port() == ap.Port()
		}, nil
	}
	var pfx netip.Prefix
	if a, err := netip.ParseAddr(v); err == nil {
		a = a.Unmap()
		pfx = netip.PrefixFrom(a, a.BitLen())
	} else if p, err := netip.ParsePrefix(v); err == nil {
		pfx = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			pfx = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
		}
	} else {
		return nil, fmt.Errorf("%q is not an IP address, a network (CIDR) or ip:port", v)
	}
	return func(c string) bool {
		host, _, err := net.SplitHostPort(c)
		if err != nil {
			host = c
		}
		a, err := netip.ParseAddr(host)
		return err == nil && pfx.Contains(a.Unmap())
	}, nil
}
