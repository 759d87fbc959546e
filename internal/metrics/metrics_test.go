package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// scrape returns the text exposition of m.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInterceptorsCountCalls runs a real gRPC server on loopback with the
// interceptors and checks what a scrape reports for unary calls that
// succeed and fail and for a stream.
func TestInterceptorsCountCalls(t *testing.T) {
	m := New("test")
	srv := grpc.NewServer(m.ServerOptions()...)
	hs := health.NewServer()
	hs.SetServingStatus("ok", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for range 2 {
		if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "missing"}); err == nil {
		t.Fatal("check of an unknown service succeeded")
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := c.Watch(wctx, &healthpb.HealthCheckRequest{Service: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The server sees the cancellation asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	hts := httpServer(t, m)
	var text string
	for {
		text = scrape(t, hts+"/metrics")
		if strings.Contains(text, `tfmatch_grpc_calls_total{code="Canceled",method="/grpc.health.v1.Health/Watch"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`tfmatch_grpc_calls_total{code="OK",method="/grpc.health.v1.Health/Check"} 2`,
		`tfmatch_grpc_calls_total{code="NotFound",method="/grpc.health.v1.Health/Check"} 1`,
		`tfmatch_grpc_calls_total{code="Canceled",method="/grpc.health.v1.Health/Watch"} 1`,
		`tfmatch_grpc_call_seconds_count{method="/grpc.health.v1.Health/Check"} 3`,
		`tfmatch_grpc_stream_messages_received_total{method="/grpc.health.v1.Health/Watch"} 1`,
		`tfmatch_node_info{node="test",`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// httpServer serves m on loopback for the test and returns its base URL.
func httpServer(t *testing.T, m *Metrics) string {
	t.Helper()
	addr, stop, err := m.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return "http://" + addr
}

func TestStart(t *testing.T) {
	m := New("matcher")
	base := httpServer(t, m)
	if text := scrape(t, base+"/metrics"); !strings.Contains(text, `tfmatch_node_info{node="matcher",`) {
		t.Errorf("scrape lacks the node info:\n%s", text)
	}
	resp, err := http.Post(base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %s, want 405", resp.Status)
	}
	if _, _, err := m.Start("no-such-host-and-port", nil); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

func TestForNode(t *testing.T) {
	opts, stop, err := ForNode("agency", "", nil)
	if err != nil || opts != nil {
		t.Fatalf("ForNode without an address: %d options, %v; want none, nil", len(opts), err)
	}
	stop()
	opts, stop, err = ForNode("agency", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(opts) != 2 {
		t.Errorf("ForNode: %d server options, want the unary and the stream interceptor", len(opts))
	}
	if _, _, err := ForNode("agency", "no-such-host-and-port", nil); err == nil {
		t.Error("ForNode on a bad address succeeded")
	}
}
