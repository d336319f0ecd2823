package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/qoslab/qoslab/nodes"
	"github.com/spf13/cobra"
)

// readyFD is the file descriptor on which a node reports readiness: the
// launcher passes the write end of a pipe there and waits for "ready\n".
const readyFD = 3

func newNodeCmd() *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:    "node <role> --config <file>",
		Short:  "Run one lab node (started by qoslab up inside the node's namespace)",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			run, ok := roles()[args[0]]
			if !ok {
				return fmt.Errorf("node: unknown role %q", args[0])
			}
			cfg, err := nodes.ReadConfig(config)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("node", cfg.Name, "role", args[0])
			env := nodes.Env{Config: cfg, Log: log, Ready: readySignal(log)}
			log.Info("starting")
			if err := run(cmd.Context(), env); err != nil {
				log.Error("stopped", "err", err)
				return fmt.Errorf("node %s: %w", cfg.Name, err)
			}
			log.Info("stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "node config file written by the launcher")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// readySignal returns the Ready function: it writes one line to readyFD if
// the launcher gave us one (running a node by hand works too).
func readySignal(log *slog.Logger) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if log != nil {
				log.Info("ready")
			}
			f := os.NewFile(readyFD, "ready")
			if f == nil {
				return
			}
			_, _ = f.Write([]byte("ready\n"))
			_ = f.Close()
		})
	}
}
