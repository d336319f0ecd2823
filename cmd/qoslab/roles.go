package main

import (
	"context"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/clearinghouse"
	"github.com/qoslab/qoslab/nodes/pdp"
	"github.com/qoslab/qoslab/nodes/placeholder"
	"github.com/qoslab/qoslab/nodes/proxy"
	"github.com/qoslab/qoslab/nodes/router"
	"github.com/qoslab/qoslab/nodes/ua"
)

// roleFunc runs one node role until ctx is cancelled.
type roleFunc func(ctx context.Context, env nodes.Env) error

// roles is the one place where node roles are registered: one line each.
// A role still served by the placeholder has no implementation yet.
func roles() map[string]roleFunc {
	return map[string]roleFunc{
		"uac":           ua.RunUAC,
		"uas":           ua.RunUAS,
		"proxy":         proxy.Run,
		"pdp":           pdp.Run,
		"router":        router.Run,
		"clearinghouse": clearinghouse.Run,
		"host":          placeholder.Run,
	}
}
