// Command livegate runs one livegate node: WHIP ingest, WHEP playback, the SFU between
// them, and the HTTP API. With no configuration it needs no external service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/node"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "livegate:", err)
		os.Exit(1)
	}
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

func run() error {
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// go-redis logs reconnect attempts on its own; route them into our logs at debug.
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	// An open /v1 (no --api-key) is among the development defaults the node logs in one
	// line at start.

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
