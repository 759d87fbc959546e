// Package metrics owns a node's Prometheus metrics: the registry, the
// gRPC interceptors that count and time every call by method and status
// code, and the plain-HTTP endpoint that serves them for scraping.
//
// Metrics carry no personal data and no token: their labels are the node
// name, gRPC method names and status codes. Who called is left out on
// purpose (the audit log records that, signed); a counter per party would
// also let anyone who can scrape the endpoint watch an agency's activity.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics is one node's registry and the metrics every node exports.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	messages *prometheus.CounterVec
}

// New returns the metrics of a node called node ("matcher", "agency"):
// Go runtime and process collectors, tfmatch_node_info, and the gRPC call
// metrics that ServerOptions records.
func New(node string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "tfmatch_node_info",
		Help:        "Always 1; the labels say which node and version this is.",
		ConstLabels: prometheus.Labels{"node": node, "version": version},
	})
	info.Set(1)
	m := &Metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfmatch_grpc_calls_total",
			Help: "gRPC calls handled, by method and status code (streams count once, when they end).",
		}, []string{"method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tfmatch_grpc_call_seconds",
			Help:    "Time from a gRPC call's start to its end, by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1 ms to about 4 min
		}, []string{"method"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfmatch_grpc_stream_messages_received_total",
			Help: "Messages received on gRPC streams, by method (on Submit: batches).",
		}, []string{"method"}),
	}
	reg.MustRegister(info, m.calls, m.seconds, m.messages)
	return m
}

// Register adds a node's own collectors (a gauge of records held, say).
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// ServerOptions returns the interceptors that record every unary and
// streaming call; pass them to the gRPC server.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.unary),
		grpc.ChainStreamInterceptor(m.stream),
	}
}

func (m *Metrics) observe(method string, start time.Time, err error) {
	m.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	m.seconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, &countingStream{ServerStream: ss, received: m.messages.WithLabelValues(info.FullMethod)})
	m.observe(info.FullMethod, start, err)
	return err
}

// countingStream counts the messages a stream receives.
type countingStream struct {
	grpc.ServerStream
	received prometheus.Counter
}

func (s *countingStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.received.Inc()
	}
	return err
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Start serves /metrics on addr (plain HTTP: bind it to loopback or a
// monitoring network) in the background, after listening, so that an
// address in use fails at once. It returns the address listened on and
// stop, which shuts the endpoint down (waiting up to five seconds for
// scrapes in flight) and returns any error serving met.
func (m *Metrics) Start(addr string, logger *slog.Logger) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if logger != nil {
		logger.Info("serving metrics", "addr", lis.Addr().String(), "path", "/metrics")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("metrics: shutting down: %w", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
	return lis.Addr().String(), stop, nil
}

// ForNode is what a node binary does with its -metrics flag: with addr
// empty, nothing (no options, a no-op stop); otherwise it starts the
// endpoint for a node called node and returns the interceptors to pass to
// its gRPC server and stop, which shuts the endpoint down and logs any
// error.
func ForNode(node, addr string, logger *slog.Logger) (opts []grpc.ServerOption, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	m := New(node)
	_, stopServing, err := m.Start(addr, logger)
	if err != nil {
		return nil, nil, err
	}
	stop = func() {
		if err := stopServing(); err != nil && logger != nil {
			logger.Warn("metrics endpoint", "err", err)
		}
	}
	return m.ServerOptions(), stop, nil
}
