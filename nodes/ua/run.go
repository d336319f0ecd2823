package ua

import (
	"context"
	"path/filepath"
	"time"

	"github.com/qoslab/qoslab/nodes"
)

// ControlSocketName is the control socket's file name inside the node's
// directory (topology.ControlSocket builds the same path from outside).
const ControlSocketName = "control.sock"

// RunUAC is the "uac" role: a UAC that places calls when POST /call
// arrives on <env.Dir>/control.sock.
func RunUAC(ctx context.Context, env nodes.Env) error {
	u, err := NewUAC(ctx, env)
	if err != nil {
		return err
	}
	cs, err := listenControl(filepath.Join(env.Dir, ControlSocketName), ControlHandler(u), env.Log)
	if err != nil {
		u.Close()
		return err
	}
	env.Ready()
	<-ctx.Done()
	// ctx is the UAC's parent: calls in progress are ending already.
	cs.close(5 * time.Second)
	u.Close()
	return nil
}

// RunUAS is the "uas" role: answers every INVITE on its SIP address.
func RunUAS(ctx context.Context, env nodes.Env) error {
	u, err := NewUAS(ctx, env)
	if err != nil {
		return err
	}
	env.Ready()
	<-ctx.Done()
	u.Close()
	return nil
}
