package ua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// maxControlBody bounds a control request; a CallRequest is tiny.
const maxControlBody = 64 << 10

// ControlHandler serves the UAC's control API:
//
//	POST /call  body CallRequest, answer CallResult (200), or {"error": ...} (400)
func ControlHandler(u *UAC) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /call", func(w http.ResponseWriter, r *http.Request) {
		var req CallRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBody))
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ua: bad call request: " + err.Error()})
			return
		}
		res, err := u.Call(r.Context(), req)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// controlServer is the HTTP server on the control socket.
type controlServer struct {
	srv    *http.Server
	ln     net.Listener
	served chan error
}

// listenControl serves h on the unix socket path, replacing a stale
// socket file a killed node left behind.
func listenControl(path string, h http.Handler, log *slog.Logger) (*controlServer, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ua: remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ua: control socket: %w", err)
	}
	cs := &controlServer{
		srv:    &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln:     ln,
		served: make(chan error, 1),
	}
	go func() { cs.served <- cs.srv.Serve(ln) }()
	return cs, nil
}

// close stops accepting, waits up to timeout for calls in progress (they
// end quickly once the UAC's context is cancelled) and removes the socket.
func (cs *controlServer) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cs.srv.Shutdown(ctx); err != nil {
		cs.srv.Close()
	}
	<-cs.served
}
